import Foundation
import IR
import Quant
import TestSupport
import XCTest

/// Calibration folders: what is accepted, how images become tensors, and a one-line error for every bad input.
final class CalibrationDatasetTests: XCTestCase {
    var scratch: ScratchDirectory!

    override func setUpWithError() throws { scratch = try ScratchDirectory("mcc-calib") }
    override func tearDown() { scratch.remove() }

    func folder(_ name: String) throws -> String {
        let path = scratch.path(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func writePNG(_ path: String, width: Int, height: Int, pixel: (Int, Int) -> (UInt8, UInt8, UInt8)) throws {
        var pixels: [UInt8] = []
        for y in 0..<height { for x in 0..<width { let p = pixel(x, y); pixels += [p.0, p.1, p.2] } }
        try PNGWriter.encode(width: width, height: height, channels: 3, pixels: pixels).write(to: URL(fileURLWithPath: path))
    }

    func assertError(_ body: @autoclosure () throws -> Any, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let message = (error as? MCCError)?.message ?? "\(error)"
            XCTAssertTrue(message.contains(text), "'\(message)' does not mention '\(text)'", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), "error must be one line: \(message)", file: file, line: line)
        }
    }

    let nchw = CalibrationInput(name: "x", shape: [1, 3, 4, 6], encoding: .rgb)

    func testImageBecomesRawPixelTensorInTheInputsLayoutAndEncoding() throws {
        let dir = try folder("images")
        // 6x4 image already at the input size: no resampling, pixel (x, y) = (x, y, 100).
        try writePNG(dir + "/a.png", width: 6, height: 4) { x, y in (UInt8(x), UInt8(y), 100) }
        let rgb = try CalibrationDataset(source: .directory(dir), inputs: [nchw]).load(0)[0]
        XCTAssertEqual(rgb.shape, [1, 3, 4, 6])
        let v = rgb.floatValues()
        XCTAssertEqual(v[0 * 24 + 2 * 6 + 5], 5)    // R at (5, 2)
        XCTAssertEqual(v[1 * 24 + 2 * 6 + 5], 2)    // G
        XCTAssertEqual(v[2 * 24 + 2 * 6 + 5], 100)  // B
        var bgr = CalibrationInput(name: "x", shape: [1, 4, 6, 3], encoding: .bgr)
        bgr.layout = "NHWC"
        let t = try CalibrationDataset(source: .directory(dir), inputs: [bgr]).load(0)[0].floatValues()
        XCTAssertEqual(Array(t[((2 * 6) + 5) * 3..<((2 * 6) + 5) * 3 + 3]), [100, 2, 5])
    }

    func testResizeCropAndPadGeometry() throws {
        let image = Image8(width: 8, height: 4, channels: 1, pixels: (0..<32).map { UInt8($0) })
        // CROP: center 4x4 window without scaling, left = int(8/2 - 4/2) = 2.
        let crop = ResizeMethod.crop.apply(image, width: 4, height: 4)
        XCTAssertEqual(crop.pixels[0], 2)
        XCTAssertEqual(crop.pixels[5], 11)
        // PAD: 8x4 into 4x4 keeps the aspect (4x2), centered vertically on black.
        let pad = ResizeMethod.pad.apply(image, width: 4, height: 4)
        XCTAssertEqual(Array(pad.pixels[0..<4]), [0, 0, 0, 0])
        XCTAssertEqual(Array(pad.pixels[12..<16]), [0, 0, 0, 0])
        XCTAssertNotEqual(pad.pixels[4], 0)
        // RESIZE of a constant image stays constant (weights are normalized), any factor.
        let flat = Image8(width: 7, height: 5, channels: 3, pixels: Array(repeating: 77, count: 105))
        XCTAssertEqual(Set(ResizeMethod.resize.apply(flat, width: 3, height: 11).pixels), [77])
        XCTAssertEqual(ResizeMethod.resize.apply(image, width: 8, height: 4), image)
    }

    func testNumpyAndRawFilesAreUsedAsGiven() throws {
        let dir = try folder("arrays")
        let values = (0..<72).map(Float.init)
        try NumpyFile.write(Tensor(floats: values, shape: [1, 3, 4, 6]), to: dir + "/a.npy")
        // Batchless NHWC is accepted for an NCHW input and transposed.
        try NumpyFile.write(Tensor(floats: values, shape: [4, 6, 3]), to: dir + "/b.npy")
        // .raw is SNPE's NHWC float32.
        try Data(values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }).write(to: URL(fileURLWithPath: dir + "/c.raw"))
        let set = try CalibrationDataset(source: .directory(dir), inputs: [nchw])
        XCTAssertEqual(set.samples.map(\.label), ["a", "b", "c"])
        XCTAssertEqual(try set.load(0)[0].floatValues(), values)
        let b = try set.load(1)[0].floatValues(), c = try set.load(2)[0].floatValues()
        // NHWC (h=1, w=2, c=0) is element (1*6+2)*3 = 24; in NCHW it sits at 0*24 + 1*6 + 2 = 8.
        XCTAssertEqual(b[8], 24)
        XCTAssertEqual(b, c)
    }

    func testSelectionFirstNAndSpread() throws {
        let dir = try folder("many")
        for k in 0..<10 { try NumpyFile.write(Tensor(floats: Array(repeating: Float(k), count: 72), shape: [1, 3, 4, 6]), to: dir + "/f\(k).npy") }
        let first = try CalibrationDataset(source: .directory(dir), inputs: [nchw], selection: .init(maxCount: 3))
        XCTAssertEqual(first.samples.map(\.label), ["f0", "f1", "f2"])
        let spread = try CalibrationDataset(source: .directory(dir), inputs: [nchw], selection: .init(maxCount: 3, spread: true, seed: 5))
        let labels = spread.samples.map(\.label)
        XCTAssertEqual(labels.count, 3)
        XCTAssertEqual(Set(labels).count, 3)
        XCTAssertNotEqual(labels, ["f0", "f1", "f2"])
        let again = try CalibrationDataset(source: .directory(dir), inputs: [nchw], selection: .init(maxCount: 3, spread: true, seed: 5))
        XCTAssertEqual(again.samples.map(\.label), labels)
    }

    func testPerInputFoldersPairBySortedName() throws {
        let dir = try folder("multi")
        for name in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
            for k in 0..<2 { try NumpyFile.write(Tensor(floats: [Float(k)], shape: [1, 1]), to: "\(dir)/\(name)/\(k).npy") }
        }
        let inputs = [CalibrationInput(name: "a", shape: [1, 1]), CalibrationInput(name: "b", shape: [1, 1])]
        let set = try CalibrationDataset(source: .directory(dir), inputs: inputs)
        XCTAssertEqual(set.samples.count, 2)
        XCTAssertEqual(try set.load(1).map { $0.floatValues() }, [[1], [1]])
    }

    func testRandomCalibrationIsSeeded() throws {
        let a = try CalibrationDataset(source: .random(count: 2, seed: 9), inputs: [nchw])
        let b = try CalibrationDataset(source: .random(count: 2, seed: 9), inputs: [nchw])
        let c = try CalibrationDataset(source: .random(count: 2, seed: 10), inputs: [nchw])
        XCTAssertEqual(try a.load(1)[0].floatValues(), try b.load(1)[0].floatValues())
        XCTAssertNotEqual(try a.load(1)[0].floatValues(), try c.load(1)[0].floatValues())
        XCTAssertTrue(try a.load(0)[0].floatValues().allSatisfy { $0 >= 0 && $0 <= 255 })
    }

    // MARK: bad input

    func testMissingAndEmptyFolders() throws {
        assertError(try CalibrationDataset(source: .directory(scratch.path("nope")), inputs: [nchw]), contains: "does not exist")
        let empty = try folder("empty")
        try Data("x".utf8).write(to: URL(fileURLWithPath: empty + "/notes.txt"))
        assertError(try CalibrationDataset(source: .directory(empty), inputs: [nchw]), contains: "holds no .jpg")
    }

    func testDanglingLinkIsNamed() throws {
        let dir = try folder("links")
        try FileManager.default.createSymbolicLink(atPath: dir + "/a.jpg", withDestinationPath: scratch.path("gone/a.jpg"))
        assertError(try CalibrationDataset(source: .directory(dir), inputs: [nchw]), contains: "a.jpg is a symbolic link to")
    }

    func testUndecodableImages() throws {
        let dir = try folder("bad-images")
        try Data([0xFF, 0xD8, 0xFF, 0x00, 0x01, 0x02]).write(to: URL(fileURLWithPath: dir + "/broken.jpg"))
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0]).write(to: URL(fileURLWithPath: dir + "/broken.png"))
        try Data("GIF89a".utf8).write(to: URL(fileURLWithPath: dir + "/renamed.png"))
        let set = try CalibrationDataset(source: .directory(dir), inputs: [nchw])
        assertError(try set.load(0), contains: "broken.jpg")
        assertError(try set.load(1), contains: "broken.png")
        assertError(try set.load(2), contains: "renamed.png")
    }

    func testWrongNumpyShapeOrTypeAndRawSize() throws {
        let dir = try folder("bad-arrays")
        try NumpyFile.write(Tensor(floats: Array(repeating: 0, count: 10), shape: [1, 10]), to: dir + "/a_shape.npy")
        try NumpyFile.write(Tensor(.int32, shape: [1, 3, 4, 6], values: Array(repeating: Int32(0), count: 72)), to: dir + "/b_type.npy")
        try Data(repeating: 0, count: 100).write(to: URL(fileURLWithPath: dir + "/c_size.raw"))
        try Data("not numpy".utf8).write(to: URL(fileURLWithPath: dir + "/d_garbage.npy"))
        let set = try CalibrationDataset(source: .directory(dir), inputs: [nchw])
        assertError(try set.load(0), contains: "has shape [1, 10]")
        assertError(try set.load(1), contains: "holds int32")
        assertError(try set.load(2), contains: "has 100 bytes")
        assertError(try set.load(3), contains: "d_garbage.npy")
    }

    func testMismatchedPerInputCountsAndMissingSubfolders() throws {
        let dir = try folder("uneven")
        for (name, count) in [("a", 2), ("b", 3)] {
            try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
            for k in 0..<count { try NumpyFile.write(Tensor(floats: [0], shape: [1, 1]), to: "\(dir)/\(name)/\(k).npy") }
        }
        let two = [CalibrationInput(name: "a", shape: [1, 1]), CalibrationInput(name: "b", shape: [1, 1])]
        assertError(try CalibrationDataset(source: .directory(dir), inputs: two), contains: "a: 2, b: 3")
        let flat = try folder("flat")
        try NumpyFile.write(Tensor(floats: [0], shape: [1, 1]), to: flat + "/0.npy")
        assertError(try CalibrationDataset(source: .directory(flat), inputs: two), contains: "subfolder per input")
    }

    func testImagesNeedAnImageInputAndMatchingChannels() throws {
        let dir = try folder("rgb")
        try writePNG(dir + "/a.png", width: 2, height: 2) { _, _ in (1, 2, 3) }
        let fourChannels = CalibrationInput(name: "x", shape: [1, 4, 8, 8], encoding: .rgb)
        assertError(try CalibrationDataset(source: .directory(dir), inputs: [fourChannels]).load(0), contains: "has 4 channels")
        let flat = CalibrationInput(name: "x", shape: [1, 2, 3, 4, 5])
        assertError(try CalibrationDataset(source: .directory(dir), inputs: [flat]).load(0), contains: "not an image")
        assertError(try CalibrationDataset(source: .random(count: 1, seed: 0), inputs: [CalibrationInput(name: "sr", shape: [], elementType: .int64)]),
                    contains: "random calibration covers float")
    }
}
