import Driver
import Foundation

exit(MCC.runMain())
