import Glibc
import HeraldFuzzing

// libFuzzer's driver (linked by -sanitize=fuzzer) runs the `journal` target: the options and
// corpus folders are libFuzzer's own (`-max_total_time=S`, `-runs=N`, CORPUS_DIR...).
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(
    runDriver(&argc, &argv) { data, size in
        FuzzTarget.journal.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    })
