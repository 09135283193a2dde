import Testing
@testable import OCI

@Test func placeholder() {}
