import Glibc
import HeraldFuzzing

// libFuzzer's driver (linked by -sanitize=fuzzer) runs the target named by
// $HERALD_FUZZ_TARGET (an environment variable, so that the processes libFuzzer starts for
// -jobs run the same one); the options and corpus folders are libFuzzer's own
// (`-max_total_time=S`, `-runs=N`, CORPUS_DIR...). tools/fuzz sets both.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

guard let name = getenv("HERALD_FUZZ_TARGET").map({ String(cString: $0) }), FuzzTarget(rawValue: name) != nil else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    let message = "herald-fuzz: set HERALD_FUZZ_TARGET to one of: \(names)\n"
    _ = message.withCString { write(2, $0, strlen($0)) }
    exit(64)
}
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(
    runDriver(&argc, &argv) { data, size in
        // Looked up again here: a C callback captures nothing.
        let target = FuzzTarget(rawValue: String(cString: getenv("HERALD_FUZZ_TARGET")))!
        target.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    })
