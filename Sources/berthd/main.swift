import EngineAPI
import Foundation

// berthd: the Docker-compatible daemon. Everything lives in EngineAPI (`BerthDaemon`) so it can be tested.
exit(await BerthDaemon.main(arguments: Array(CommandLine.arguments.dropFirst())))
