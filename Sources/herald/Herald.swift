import ArgumentParser

@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Herald: a cluster event service with a durable, replayable journal.",
        discussion: """
            Exit codes: 0 ok, 1 other failure, 64 usage, 65 journal damaged (or a recorded head \
            not proved), 66 no journal or input (or no such channel), 69 heraldd not reachable, \
            74 I/O error, 75 journal in use by another writer, 78 written by a newer Herald \
            (docs/cli.md).
            """,
        subcommands: [
            Publish.self, Tail.self, Query.self, Channels.self, Cursors.self, Stats.self, AuditCommand.self,
            Export.self, Import.self, ClusterCommand.self,
            JournalCommand.self,
            ServiceCommand.self,
        ]
    )
}

struct JournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Operate on a journal's data folder directly (no daemon).",
        subcommands: [JournalAppend.self, JournalRead.self, JournalVerify.self, JournalStatsCommand.self]
    )
}
