import Testing
@testable import Runtime

@Test func placeholder() {}
