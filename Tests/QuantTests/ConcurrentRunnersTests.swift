import IR
import Quant
import XCTest

/// The live-activation estimate that decides whether calibration and the 16-bit search run samples concurrently.
final class ConcurrentRunnersTests: XCTestCase {
    func testPeakLiveBytesFollowsTheInterpretersReleaseSchedule() {
        // convNet: x [1,3,8,8] (768 B, an input: always live), c1 and r1 [1,4,8,8] (1024 B each), c2, m2 and the
        // output y (512 B each). The peak is right after relu1: x + c1 + r1 (c1 is released only after its reader).
        XCTAssertEqual(peakLiveBytes(TestModels.convNet()), 768 + 1024 + 1024)
    }

    func testPeakLiveBytesIsUnknownWithoutStaticShapes() {
        let model = TestModels.convNet()
        model.graph.nodes[1].outputs[0].type = .tensor(.float, Shape([.symbolic("n"), .known(4), .known(8), .known(8)]))
        XCTAssertNil(peakLiveBytes(model))
    }
}
