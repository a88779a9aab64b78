// conveyor-download-bench: the Downloader against curl on the same loopback file.
//
//   conveyor-download-bench [--size-mib 1024] [--rounds 5] [--dir /tmp]
//
// The parent serves a generated file from ConveyorTestSite; each round runs two child
// processes under /usr/bin/time, this program in `download` mode and `curl -o`, so both are
// measured the same way (wall time and maximum RSS of the downloading process alone).
import ConveyorIngestHTTP
import ConveyorTestSite
import Crypto
import Foundation
import Subprocess

let arguments = CommandLine.arguments
if arguments.count >= 4, arguments[1] == "download" {
    try await DownloadChild.run(url: arguments[2], directory: arguments[3])
} else {
    try await DownloadBenchmark(arguments: Array(arguments.dropFirst())).run()
}
