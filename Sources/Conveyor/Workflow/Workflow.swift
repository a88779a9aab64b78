import Foundation

/// Jobs that run in an order: chains, groups and chords, stored as one atomic enqueue.
///
/// ```swift
/// let flow = Workflow.chain([
///     .job(try client.makeNewJob(Download(url: url))),
///     .chord(pages.map { .job(try client.makeNewJob(ParsePage(page: $0))) },
///            then: try client.makeNewJob(Merge()), when: .allSucceededOrFail),
///     .job(try client.makeNewJob(Publish())),
/// ])
/// let enqueued = try await client.enqueue(flow)
/// ```
///
/// - A chain's step starts when the step before it succeeded and reads its output with
///   `context.parentResult(as:)`; when a step ends dead or cancelled, the rest of the chain
///   is cancelled with the reason.
/// - A group's members run in parallel, as a batch.
/// - A chord's callback becomes ready exactly once, when every member finished, and reads
///   the members' outputs in order with `context.batchResults(as:)`.
///
/// Group and chord members are jobs or chains of jobs.
public indirect enum Workflow: Sendable, Hashable {
    case job(NewJob)
    case chain([Workflow])
    case group([Workflow])
    case chord([Workflow], then: NewJob, when: BatchCondition = .allSucceededOrFail)

    public static func chain(_ steps: Workflow...) -> Workflow { .chain(steps) }
    public static func group(_ members: Workflow...) -> Workflow { .group(members) }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case empty(String)
        case unsupportedNesting(String)

        public var description: String {
            switch self {
            case .empty(let what): "a workflow's \(what) has no jobs"
            case .unsupportedNesting(let what): "unsupported workflow nesting: \(what); group and chord members are jobs or chains of jobs"
            }
        }
    }

    var isJob: Bool {
        if case .job = self { return true }
        return false
    }

    /// What a step after this one waits for.
    enum Exit {
        case job(Int)
        case batch(String, BatchCondition)
        var dependency: Dependency {
            switch self {
            case .job(let index): .earlier(index)
            case .batch(let id, let condition): .batch(id, condition)
            }
        }
    }

    /// The jobs to enqueue, in order, with their dependencies. A group is a plain batch
    /// (`wf-…`), which the enqueue creates as its first member is stored.
    public struct Plan: Sendable {
        public var jobs: [NewJob] = []
    }

    /// Flattens the workflow. `batchID` puts its top-level jobs in that batch (a batch of chords).
    public func plan(in batchID: String? = nil) throws -> Plan {
        var plan = Plan()
        _ = try flatten(into: &plan, after: nil, batch: batchID, insideGroup: false)
        return plan
    }

    private func flatten(into plan: inout Plan, after dependency: Dependency?, batch: String?, insideGroup: Bool) throws -> Exit? {
        switch self {
        case .job(var job):
            job.dependsOn = dependency
            if batch != nil { job.batchID = batch }
            plan.jobs.append(job)
            return .job(plan.jobs.count - 1)
        case .chain(let steps):
            guard !steps.isEmpty else { throw Error.empty("chain") }
            var exit: Exit?
            for step in steps {
                if insideGroup, !step.isJob {
                    throw Error.unsupportedNesting("a chain inside a group or chord may hold only jobs")
                }
                exit = try step.flatten(into: &plan, after: exit?.dependency ?? dependency, batch: batch, insideGroup: insideGroup)
            }
            return exit
        case .group(let members):
            let id = try flattenMembers(members, into: &plan, after: dependency, insideGroup: insideGroup)
            return .batch(id, .allSucceededOrFail)
        case .chord(let members, var callback, let condition):
            let id = try flattenMembers(members, into: &plan, after: dependency, insideGroup: insideGroup)
            callback.dependsOn = .batch(id, condition)
            if batch != nil { callback.batchID = batch }
            plan.jobs.append(callback)
            return .job(plan.jobs.count - 1)
        }
    }

    private func flattenMembers(_ members: [Workflow], into plan: inout Plan, after dependency: Dependency?, insideGroup: Bool) throws -> String {
        guard !members.isEmpty else { throw Error.empty("group") }
        guard !insideGroup else { throw Error.unsupportedNesting("a group or chord inside a group or chord") }
        let id = "wf-" + UUID().uuidString.lowercased()
        for member in members {
            switch member {
            case .job, .chain:
                _ = try member.flatten(into: &plan, after: dependency, batch: id, insideGroup: true)
            case .group, .chord:
                throw Error.unsupportedNesting("a group or chord inside a group or chord")
            }
        }
        return id
    }
}

extension JobClient {
    /// Enqueues a whole workflow atomically, in one store call. Returns every job's result,
    /// in plan order.
    ///
    /// Its groups are plain batches (no callbacks of their own: a chord's callback is a job
    /// that depends on its group), which the enqueue creates as their first member is stored,
    /// before the jobs that depend on them.
    @discardableResult
    public func enqueue(_ workflow: Workflow, batchID: String? = nil) async throws -> [EnqueueResult] {
        try await enqueue(workflow.plan(in: batchID).jobs)
    }
}
