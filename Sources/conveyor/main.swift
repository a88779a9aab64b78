import Conveyor
import ConveyorCommands

// This binary runs the built-in job kinds only; a program embedding ConveyorCommands
// passes a registry with its own job types instead.
await ConveyorCommand.main(registry: JobRegistry())
