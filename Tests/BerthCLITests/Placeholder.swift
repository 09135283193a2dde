import Testing
@testable import BerthCLI

@Test func placeholder() {}
