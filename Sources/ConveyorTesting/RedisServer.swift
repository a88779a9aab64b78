public enum StubT {}
