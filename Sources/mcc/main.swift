import Driver
import Foundation

MCC.leavesModelToExit = true
exit(MCC.runMain())
