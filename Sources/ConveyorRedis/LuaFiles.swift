import Foundation

/// The store's Lua files, `Sources/ConveyorRedis/Lua`, read from the target's resources
/// (``RedisScripts`` assembles them into scripts and the function library).
struct LuaFiles: Sendable {
    /// The folder the files are in; their names are relative to it ("operations/claim.lua").
    let directory: URL

    init(directory: URL) {
        self.directory = directory
    }

    /// The files bundled with this module.
    static func bundled() throws(LuaResourceError) -> LuaFiles {
        guard let directory = Bundle.module.url(forResource: "Lua", withExtension: nil) else {
            throw .missingFolder(bundle: Bundle.module.bundlePath)
        }
        return LuaFiles(directory: directory)
    }

    func read(_ name: String) throws(LuaResourceError) -> String {
        let url = directory.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw .missingFile(name, directory: directory.path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .notUTF8(name, directory: directory.path)
        }
        return text
    }
}

/// A Lua file of the Redis store could not be read: the installation is incomplete.
enum LuaResourceError: Error, CustomStringConvertible, Equatable {
    /// The module's resource bundle has no `Lua` folder.
    case missingFolder(bundle: String)
    /// `file` (relative to the `Lua` folder) is not in `directory`.
    case missingFile(String, directory: String)
    case notUTF8(String, directory: String)

    var description: String {
        let hint = "reinstall Conveyor with its resource bundle (conveyor_ConveyorRedis.resources beside the executable)"
        switch self {
        case .missingFolder(let bundle):
            return "the Redis store's Lua folder is missing from \(bundle): \(hint)"
        case .missingFile(let file, let directory):
            return "the Redis store's Lua file \(file) is missing from \(directory): \(hint)"
        case .notUTF8(let file, let directory):
            return "the Redis store's Lua file \(file) in \(directory) is not UTF-8 text: \(hint)"
        }
    }
}
