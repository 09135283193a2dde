import Testing
@testable import EngineAPI

@Test func placeholder() {}
