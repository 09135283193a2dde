import Dispatch
import Engine
import Foundation
import Logging
import NIOCore
import NIOPosix
import OCI

/// berthd: parse flags and daemon.json, take the pidfile, listen, serve until SIGTERM/SIGINT, then
/// shut down cleanly. Runs in the foreground (for systemd, `Type=notify`).
public enum BerthDaemon {
    /// Runs the daemon; returns the process exit status (0 after a clean shutdown, 1 when it could not
    /// start, 125 for a bad command line).
    public static func main(arguments: [String]) async -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // Taken first: the descriptors are ours only while LISTEN_PID matches.
        let systemdFDs = Systemd.takeListenFDs()
        let flags: DaemonFlags
        do {
            flags = try DaemonFlags.parse(arguments)
        } catch {
            printError("\(message(of: error))\nSee 'berthd --help'.")
            return 125
        }
        if flags.showHelp {
            print(DaemonFlags.usage, terminator: "")
            return 0
        }
        if flags.showVersion {
            print("berthd version \(BerthBuild.version), API \(BerthBuild.apiVersion)")
            return 0
        }
        let config: DaemonConfig
        do {
            config = try flags.resolve()
        } catch {
            printError(message(of: error))
            return 1
        }
        if flags.validateOnly {
            printError("configuration OK")
            return 0
        }
        let level = DaemonLogHandler.level(config.logLevel, debug: config.debug)
        LoggingSystem.bootstrap { DaemonLogHandler(label: $0, level: level) }
        var logger = Logger(label: "berthd")
        logger.logLevel = level
        do {
            try await run(config: config, systemdFDs: systemdFDs, logger: logger)
            return 0
        } catch {
            logger.error("\(message(of: error))")
            printError(message(of: error))
            return 1
        }
    }

    static func message(of error: any Error) -> String {
        (error as? BerthError)?.description ?? "\(error)"
    }

    static func printError(_ text: String) {
        writeToStandardError(text + "\n")
    }

    /// The daemon's life once the configuration is known.
    public static func run(config: DaemonConfig, systemdFDs: [CInt?], logger: Logger) async throws {
        logger.info("Starting up")
        if geteuid() != 0 { logger.warning("berthd is not running as root: containers will not work") }
        umask(0o022)
        try makeDirectory(config.dataRoot, mode: 0o711)
        try makeDirectory(config.execRoot, mode: 0o700)
        let pidfile = try PIDFile.acquire(config.pidfile)
        let signals = SignalWatcher([SIGTERM, SIGINT, SIGHUP])

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let events = EventService()
        let images: ImageService
        let server: APIServer
        do {
            let plan = try ListenerPlan.make(config: config, systemdFDs: systemdFDs, logger: logger)
            images = try await ImageService(root: config.dataRoot, registry: registrySettings(config), events: events,
                                            logger: logger)
            let system = try SystemService(config: config)
            let containers = ContainerService(dataRoot: config.dataRoot, execRoot: config.execRoot, images: images,
                                              events: events, defaultRuntime: config.defaultRuntime,
                                              runtimes: config.runtimes, logger: logger)
            await containers.restore()
            await images.setImageUsers { [containers] id in await containers.users(of: id) }
            let services = APIServices(images: images, events: events, system: system, config: config,
                                       warnings: plan.warnings, containers: containers)
            server = APIServer(router: APIRoutes.router(services), group: group, logger: logger)
            do {
                for entry in plan.entries { try await server.listen(entry.address, tls: entry.tls) }
            } catch {
                await server.shutdown(grace: .zero)
                await images.shutdown()
                throw BerthError(.internalError, "failed to load listeners: \(message(of: error))")
            }
        } catch {
            try? await group.shutdownGracefully()
            pidfile.remove()
            throw error
        }

        logger.info("Daemon has completed initialization")
        Systemd.notify("READY=1")
        if ProcessInfo.processInfo.environment["BERTH_NO_TRIM"] == nil {
            Task.detached(priority: .background) {
                try? await Task.sleep(nanoseconds: 1_000_000_000)  // once the first clients are served
                MemoryTrim.releaseStartupCode()
            }
        }

        let received = await signals.next(skipping: [SIGHUP]) { _ in
            logger.info("configuration reload (SIGHUP) is not supported yet; ignoring")
        }
        logger.info("Processing signal '\(received == SIGINT ? "interrupt" : "terminated")'")
        signals.forceExitAfter(3, logger: logger)
        Systemd.notify("STOPPING=1")

        await server.shutdown(grace: .seconds(5))
        await events.finishAll()
        await images.shutdown()
        try? await group.shutdownGracefully()
        pidfile.remove()
        logger.info("Daemon shutdown complete")
    }

    static func registrySettings(_ config: DaemonConfig) -> RegistrySettings {
        var settings = RegistrySettings(insecureRegistries: config.insecureRegistries,
                                        mirrors: config.registryMirrors.compactMap { try? DaemonConfig.validateMirror($0) },
                                        maxConcurrentDownloads: config.maxConcurrentDownloads > 0
                                            ? config.maxConcurrentDownloads : RegistrySettings.defaultMaxConcurrentDownloads)
        if config.maxDownloadAttempts > 0 { settings.maxDownloadAttempts = config.maxDownloadAttempts }
        if let dir = ProcessInfo.processInfo.environment["BERTH_CERTS_DIR"], !dir.isEmpty {
            settings.certsDirectories.insert(dir, at: 0)
        }
        return settings
    }

    static func makeDirectory(_ path: String, mode: mode_t) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: mode])
        } catch {
            throw BerthError(.internalError, "failed to create \(path): \(error.localizedDescription)")
        }
    }
}

/// SIGTERM/SIGINT/SIGHUP delivered as an async sequence (the default actions are turned off).
final class SignalWatcher {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>

    init(_ signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        sources = signals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { continuation.yield(sig) }
            source.resume()
            return source
        }
    }

    /// The next signal not in `skipping` (those are reported to `onSkipped`).
    func next(skipping: Set<Int32>, onSkipped: (Int32) -> Void) async -> Int32 {
        for await sig in stream {
            if skipping.contains(sig) {
                onSkipped(sig)
                continue
            }
            return sig
        }
        return SIGTERM
    }

    /// dockerd's escape hatch: after `count` more interrupts during shutdown, exit at once.
    func forceExitAfter(_ count: Int, logger: Logger) {
        let stream = self.stream
        Task.detached {
            var seen = 0
            for await sig in stream where sig != SIGHUP {
                seen += 1
                if seen >= count - 1 {
                    logger.error("Forcing berthd shutdown without cleanup; \(count) interrupts received")
                    exit(128 + sig)
                }
            }
        }
    }
}
