/// Docker's `inspect.Inspect`: raw JSON re-indented into an array, or a template per object.
///
/// Templates run over a "typed view" of the daemon's JSON that approximates how the docker CLI
/// evaluates against Go structs: nil slices print `[]`, nil maps `map[]`, nil pointers `<nil>`,
/// nulls are omitted from `{{json}}` of objects, and a missing struct field is an error
/// (`map has no entry for key "X"`, the message of docker's raw fallback).
public enum InspectOutput {
    /// Writes the inspect output for `refs`; `fetch` returns the raw JSON of one object.
    public static func run(ctx: CLIContext, refs: [String], format: String, fetch: (String) throws -> [UInt8]) throws {
        var errors: [String] = []
        if format.isEmpty || format == "json" {
            var raws: [[UInt8]] = []
            for r in refs {
                do { raws.append(try fetch(r)) } catch { errors.append(message(of: error)) }
            }
            if raws.isEmpty {
                ctx.out.write("[]\n")
            } else {
                var joined: [UInt8] = [UInt8(ascii: "[")]
                for (i, r) in raws.enumerated() {
                    if i > 0 { joined.append(UInt8(ascii: ",")) }
                    joined.append(contentsOf: r)
                }
                joined.append(UInt8(ascii: "]"))
                if format == "json" {
                    ctx.out.write(compact(joined))
                } else {
                    ctx.out.write(JSON.indent(joined))
                }
                ctx.out.write("\n")
            }
        } else {
            let tmpl: GoTemplate
            do {
                tmpl = try GoTemplate(format)
            } catch let e as GoTemplate.Error {
                throw CLIError("template parsing error: \(e.description)", status: 64)
            }
            var buffer = ""
            for r in refs {
                do {
                    let raw = try fetch(r)
                    let value: TemplateValue
                    do {
                        value = typedView(try JSON.parse(raw))
                    } catch {
                        errors.append("unable to read inspect data: \(error)")
                        continue
                    }
                    do {
                        buffer += try tmpl.execute(value)
                        buffer += "\n"
                    } catch let e as GoTemplate.Error {
                        errors.append("template parsing error: \(e.description)")
                    }
                } catch {
                    errors.append(message(of: error))
                }
            }
            ctx.out.write(buffer.isEmpty ? "\n" : buffer)
        }
        if !errors.isEmpty { throw CLIError(errors.joined(separator: "\n"), status: 1) }
    }

    static func message(of error: any Error) -> String {
        if let e = error as? CLIError { return e.message }
        if let e = error as? OCIErrorMessage { return e.errorMessage }
        return "\(error)"
    }

    /// Removes insignificant whitespace (Go's `json.Compact`).
    static func compact(_ src: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(src.count)
        var inString = false, escaped = false
        for c in src {
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                continue
            }
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { continue }
            if c == 0x22 { inString = true }
            out.append(c)
        }
        return out
    }

    // MARK: Typed view

    /// Keys whose values are Go maps in Docker's API types.
    static let mapKeys: Set<String> = [
        "Labels", "Options", "Data", "ExposedPorts", "Volumes", "Ports", "Networks", "Attributes", "DriverOpts",
        "Sysctls", "StorageOpt", "Tmpfs", "Status", "Containers", "Annotations", "Details", "DriverData", "Runtimes",
        "IndexConfigs", "Plugins",
    ]
    /// Keys whose values are Go slices.
    static let sliceKeys: Set<String> = [
        "Env", "Cmd", "Entrypoint", "RepoTags", "RepoDigests", "Layers", "OnBuild", "Shell", "Mounts", "Binds", "Dns",
        "DnsOptions", "DnsSearch", "ExtraHosts", "CapAdd", "CapDrop", "Links", "VolumesFrom", "SecurityOpt", "Devices",
        "DeviceRequests", "DeviceCgroupRules", "Ulimits", "GroupAdd", "Args", "Aliases", "DNSNames", "Log", "ConsoleSize",
        "MaskedPaths", "ReadonlyPaths", "Test", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "Warnings", "Manifests", "Secrets", "Configs",
    ]

    /// Converts raw inspect JSON into the typed view described above.
    public static func typedView(_ v: TemplateValue, key: String? = nil, parentKey: String? = nil) -> TemplateValue {
        let isMapKey = key.map { mapKeys.contains($0) || ($0 == "Config" && parentKey == "LogConfig") } ?? false
        switch v {
        case .null:
            guard let key else { return .null }
            if isMapKey { return .typedNil(.map) }
            if sliceKeys.contains(key) { return .typedNil(.slice) }
            return .typedNil(.pointer)
        case .map(let m):
            var out = TemplateMap()
            out.isStruct = !isMapKey
            for (k, e) in m.pairs {
                out[k] = typedView(e, key: isMapKey ? nil : k, parentKey: key)
            }
            return .map(out)
        case .array(let a):
            return .array(a.map { typedView($0, key: nil, parentKey: key) })
        default:
            return v
        }
    }
}

/// Errors whose user-facing text differs from `description` (e.g. `BerthError.message`).
protocol OCIErrorMessage {
    var errorMessage: String { get }
}

import OCI

extension BerthError: OCIErrorMessage {
    var errorMessage: String { message }
}
