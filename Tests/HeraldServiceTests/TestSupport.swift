import HeraldJournal

/// Journal options on a simulated file system with an in-memory index (and a manual clock
/// when given): the setup every service test starts from.
func simulatedOptions(_ fs: SimulatedFileSystem, clock: ManualWallClock? = nil) -> JournalOptions {
    var options = JournalOptions()
    options.fileSystem = fs
    if let clock { options.clock = clock }
    options.index = .inMemory
    return options
}
