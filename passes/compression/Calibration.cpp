// The calibration-statistics provider that compression passes consult.
#include "passes/compression/Calibration.h"

using namespace compress;

static CalibrationStatistics *installed = nullptr;

CalibrationStatistics *compress::getCalibrationStatistics() { return installed; }

void compress::setCalibrationStatistics(CalibrationStatistics *statistics) {
  installed = statistics;
}
