import Testing
@testable import KnowLMCore

@Test func streamingDetokenizerHoldsIncompleteCharacters() {
    #expect(StreamingDetokenizer.completePrefixLength(Array("a".utf8)) == 1)
    let bytes = Array("中".utf8)
    #expect(StreamingDetokenizer.completePrefixLength(Array(bytes.prefix(2))) == 0)
    #expect(StreamingDetokenizer.completePrefixLength(bytes) == 3)
    #expect(StreamingDetokenizer.completePrefixLength([0x61] + Array(bytes.prefix(1))) == 1)
}
