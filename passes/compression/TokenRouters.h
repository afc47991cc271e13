// Token-skip routers fitted without training (compress-token-skip): each
// routed block's router predicts, from a token's normalised hidden state,
// how much the block changes it, and a schedule spreads a global skip target
// over the blocks by how much they change their tokens.
#ifndef COMPRESS_PASSES_COMPRESSION_TOKENROUTERS_H
#define COMPRESS_PASSES_COMPRESSION_TOKENROUTERS_H

#include "lib/support/HostTensor.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace compress {

/// One routed block's calibration tokens.
struct RouterSamples {
  int64_t width = 0;
  /// Per token (row-major, tokens x width): x / rms(x), the router's
  /// features (rms(x) = sqrt(mean(x^2) + 1e-6), as compress.route_tokens).
  std::vector<float> features;
  /// Per token: ||block(x) - x|| / ||x||, the relative size of its update.
  std::vector<double> updates;

  int64_t tokens() const { return int64_t(updates.size()); }
};

/// Adds the tokens of one calibration set: the block's input and output
/// hidden states, float32 [..., width].
llvm::Error addSamples(RouterSamples &samples, const HostTensor &input, const HostTensor &output);

/// The least-squares fit of the updates on the features and a constant
/// (ridge 1e-3 of the mean diagonal): width weights, then the bias.
std::vector<double> fitUpdatePredictor(const RouterSamples &samples);

/// Per token, weight . features.
std::vector<double> scores(const RouterSamples &samples, const std::vector<double> &weight);

/// Per block, the fraction of its calibration tokens to skip so that `skip`
/// of all the blocks' tokens are skipped, those with the smallest updates
/// over all blocks: a block that changes its tokens little skips more.
std::vector<double> scheduleSkipRates(const std::vector<RouterSamples> &blocks, double skip);

/// The threshold that skips `rate` of the tokens (the lowest scores) of
/// `scores`: -inf at rate 0.
double thresholdForRate(std::vector<double> scores, double rate);

/// Pearson correlation of two series (0 when either is constant).
double correlation(const std::vector<double> &a, const std::vector<double> &b);

} // namespace compress

#endif
