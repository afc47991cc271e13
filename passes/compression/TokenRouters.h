// Token-skip routers fitted without training (compress-token-skip): each
// routed block's router predicts, from a token's normalised hidden state and
// its scale, how much the block changes it, and a schedule spreads a global skip target
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
  /// Per token: ln(rms(x)), the router's scale feature.
  std::vector<double> logRms;
  /// Per token: ||block(x) - x|| / ||x||, the relative size of its update.
  std::vector<double> updates;

  int64_t tokens() const { return int64_t(updates.size()); }
};

/// Adds the tokens of one calibration set: the block's input and output
/// hidden states, float32 [..., width].
llvm::Error addSamples(RouterSamples &samples, const HostTensor &input, const HostTensor &output);

/// A router's linear score: weight . x / rms(x) + scaleWeight * ln(rms(x)).
struct RouterWeights {
  std::vector<double> weight;
  double scaleWeight = 0;
};

/// The least-squares fit of ln(update) on the features, the scale feature
/// and a constant (ridge 1e-3 of the mean diagonal); the constant is left
/// out, as the threshold on the score absorbs it. Relative updates span
/// orders of magnitude across tokens (the first tokens of a sequence carry
/// large residual streams): in logs the fit ranks tokens by ratio, which is
/// what the threshold cuts on.
RouterWeights fitUpdatePredictor(const RouterSamples &samples);

/// Per token, the router's score.
std::vector<double> scores(const RouterSamples &samples, const RouterWeights &router);

/// Per token, ln(update) (updates of 0 at ln(1e-12)).
std::vector<double> logUpdates(const RouterSamples &samples);

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
