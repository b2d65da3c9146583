// Fused CPU kernels for minigpt's training step: see minigpt/kernels.py for why each exists.
//
// Every kernel follows MindSpore's "aot" custom-operator convention: params holds the
// inputs, then the outputs; ndims[i] and shapes[i] describe params[i]. Tensors are
// contiguous float32 unless noted. Rows are shared among threads (`parallel_for`), and
// target_clones compiles each loop for AVX-512, AVX2 and plain x86-64, picking the best
// the machine has when the library is loaded.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

// glibc's vectorised erf and exp (libmvec). GCC calls them from vectorised loops only
// when told they exist; math.h says so itself only under -ffast-math.
extern "C" float erff(float) noexcept __attribute__((simd("notinbranch")));
extern "C" float expf(float) noexcept __attribute__((simd("notinbranch")));

#if defined(__x86_64__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

static int threads = 0;  // 0: as many as the machine has

// How many parts to cut n items of the given cost into: one per thread, but small jobs
// stay whole (starting a thread costs about as much as 32k multiply-adds).
static int64_t part_count(int64_t n, int64_t cost_per_item) {
  const int64_t wanted = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  return std::max<int64_t>(1, std::min<int64_t>({wanted, n, n * cost_per_item / 32768}));
}

// Runs body(begin, end, part) on [0, n) cut into `parts`, one thread each, the calling
// thread taking part 0. Not OpenMP: its idle threads spin for a while after every loop,
// and on two cores that time is taken from MindSpore's next kernel (a chat-model step took
// 284 ms with OpenMP's threads, 172 ms with them made to sleep).
template <typename Body>
static void parallel_for(int64_t n, int64_t parts, Body body) {
  std::vector<std::thread> helpers;
  for (int64_t p = 1; p < parts; p++) helpers.emplace_back(body, p * n / parts, (p + 1) * n / parts, (int)p);
  body(0, n / parts, 0);
  for (auto &helper : helpers) helper.join();
}

// Product of all dimensions but the last: the number of rows of a (..., C) tensor.
static int64_t rows_of(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim - 1; i++) n *= shape[i];
  return n;
}

static int64_t size_of(int ndim, const int64_t *shape) { return rows_of(ndim, shape) * shape[ndim - 1]; }

// ---- the loops, each over a range of rows ----

CLONES static void layer_norm_rows(int64_t begin, int64_t end, int64_t C, const float *x, const float *gamma,
                                   const float *beta, float *y, float *mean, float *rstd) {
  for (int64_t n = begin; n < end; n++) {
    const float *xr = x + n * C;
    float *yr = y + n * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < C; c++) sum += xr[c];
    const float m = sum / C;
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int64_t c = 0; c < C; c++) var += (xr[c] - m) * (xr[c] - m);
    const float r = 1.0f / std::sqrt(var / C + 1e-5f);
#pragma omp simd
    for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - m) * r * gamma[c] + beta[c];
    mean[n] = m;
    rstd[n] = r;
  }
}

// With xhat = (x - mean) * rstd and g = dy * gamma: dx = rstd * (g - mean(g) - xhat * mean(g * xhat));
// this range's sums of dy * xhat (dgamma) and of dy (dbeta) go to sum_dgamma and sum_dbeta.
CLONES static void layer_norm_backward_rows(int64_t begin, int64_t end, int64_t C, const float *dy, const float *x,
                                            const float *gamma, const float *mean, const float *rstd, float *dx,
                                            float *sum_dgamma, float *sum_dbeta) {
  for (int64_t n = begin; n < end; n++) {
    const float *dyr = dy + n * C, *xr = x + n * C;
    float *dxr = dx + n * C;
    const float m = mean[n], r = rstd[n];
    float sum_g = 0.0f, sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_gx)
    for (int64_t c = 0; c < C; c++) {
      const float xhat = (xr[c] - m) * r, g = dyr[c] * gamma[c];
      sum_g += g;
      sum_gx += g * xhat;
      sum_dgamma[c] += dyr[c] * xhat;
      sum_dbeta[c] += dyr[c];
    }
    const float mean_g = sum_g / C, mean_gx = sum_gx / C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) dxr[c] = r * (dyr[c] * gamma[c] - mean_g - (xr[c] - m) * r * mean_gx);
  }
}

// Attention rows: row n of the (B, H, Q, K) scores adds row mask_row(n) of the mask, which
// is (Q, K) or (1, 1, Q, K), shared by every batch row, or (B, 1, Q, K), one per batch row.
struct AttentionRows {
  int64_t H, Q, K;
  bool mask_per_batch;
  const float *mask;

  const float *mask_row(int64_t n) const { return mask + ((mask_per_batch ? n / (H * Q) * Q : 0) + n % Q) * K; }

  // The keys a query may see lie in [first, last] (an interval for the causal and the
  // document masks); outside it the weights are 0, and the loops need not go there.
  // (first == K when it sees none.)
  void visible(const float *mr, int64_t &first, int64_t &last) const {
    int64_t lo = K, hi = -1;
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (int64_t k = 0; k < K; k++) {
      const bool seen = mr[k] > -INFINITY;
      lo = std::min(lo, seen ? k : K);
      hi = std::max(hi, seen ? k : (int64_t)-1);
    }
    first = lo;
    last = hi;
  }
};

static AttentionRows attention_rows(int *ndims, int64_t **shapes, int mask_param) {
  const int64_t *s = shapes[0];
  const bool per_batch = ndims[mask_param] == 4 && shapes[mask_param][0] == s[0] && s[0] > 1;
  return {s[1], s[2], s[3], per_batch, nullptr};
}

CLONES static void masked_softmax_rows(int64_t begin, int64_t end, const AttentionRows &rows, const float *scores,
                                       float *weights) {
  const int64_t K = rows.K;
  for (int64_t n = begin; n < end; n++) {
    const float *in = scores + n * K, *mr = rows.mask_row(n);
    float *out = weights + n * K;
    int64_t first, last;
    rows.visible(mr, first, last);
    if (first == K) {  // a query that sees nothing: NaN, as softmax gives
      std::fill(out, out + K, NAN);
      continue;
    }
    std::fill(out, out + first, 0.0f);
    std::fill(out + last + 1, out + K, 0.0f);
    float top = -INFINITY;
#pragma omp simd reduction(max : top)
    for (int64_t k = first; k <= last; k++) top = std::max(top, in[k] + mr[k]);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t k = first; k <= last; k++) {
      // Masked keys (-inf) would send the vectorised expf down its slow path for huge
      // arguments; below -80 the term is under 2e-35, nothing next to the row's 1.
      const float z = in[k] + mr[k] - top;
      out[k] = z < -80.0f ? 0.0f : expf(std::max(z, -80.0f));
      sum += out[k];
    }
    const float scale = 1.0f / sum;
#pragma omp simd
    for (int64_t k = first; k <= last; k++) out[k] *= scale;
  }
}

// dscores = weights * (dweights - sum(dweights * weights)) along each row; 0 where the mask hides the key.
CLONES static void masked_softmax_backward_rows(int64_t begin, int64_t end, const AttentionRows &rows,
                                                const float *y, const float *dy, float *dx) {
  const int64_t K = rows.K;
  for (int64_t n = begin; n < end; n++) {
    const float *yr = y + n * K, *dyr = dy + n * K;
    float *dxr = dx + n * K;
    int64_t first, last;
    rows.visible(rows.mask_row(n), first, last);
    if (first == K) last = K - 1;  // sees nothing: all zeros
    std::fill(dxr, dxr + first, 0.0f);
    std::fill(dxr + last + 1, dxr + K, 0.0f);
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t k = first; k <= last; k++) dot += yr[k] * dyr[k];
#pragma omp simd
    for (int64_t k = first; k <= last; k++) dxr[k] = yr[k] * (dyr[k] - dot);
  }
}

CLONES static void gelu_range(int64_t begin, int64_t end, const float *x, float *y) {
#pragma omp simd
  for (int64_t i = begin; i < end; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

CLONES static void gelu_backward_range(int64_t begin, int64_t end, const float *x, const float *dy, float *dx) {
#pragma omp simd
  for (int64_t i = begin; i < end; i++) {
    const float cdf = 0.5f * (1.0f + erff(x[i] * 0.70710678118654752f));
    const float pdf = 0.39894228040143268f * expf(-0.5f * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

CLONES static void document_mask_rows(int64_t begin, int64_t end, int64_t T, const int32_t *idx, int32_t bos,
                                      float *mask) {
  for (int64_t b = begin; b < end; b++) {
    int64_t start = 0;  // where the current document starts
    for (int64_t i = 0; i < T; i++) {
      if (idx[b * T + i] == bos) start = i;
      float *row = mask + (b * T + i) * T;
#pragma omp simd
      for (int64_t j = 0; j < T; j++) row[j] = (j >= start && j <= i) ? 0.0f : -INFINITY;
    }
  }
}

// ---- the operators MindSpore calls ----

extern "C" {

// How many threads the kernels use (minigpt.device passes its --threads on); 0: all cores.
void SetThreads(int n) { threads = n; }

// LayerNorm over the last axis. In: x (..., C), gamma (C), beta (C).
// Out: y (..., C), mean (..., 1), rstd (..., 1); the last two are kept for the backward pass.
int LayerNormForward(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const int64_t C = shapes[0][ndims[0] - 1], N = rows_of(ndims[0], shapes[0]);
  parallel_for(N, part_count(N, C), [&](int64_t begin, int64_t end, int) {
    layer_norm_rows(begin, end, C, (const float *)params[0], (const float *)params[1], (const float *)params[2],
                    (float *)params[3], (float *)params[4], (float *)params[5]);
  });
  return 0;
}

// In: dy (..., C), x (..., C), gamma (C), mean (..., 1), rstd (..., 1). Out: dx (..., C), dgamma (C), dbeta (C).
int LayerNormBackward(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const int64_t C = shapes[0][ndims[0] - 1], N = rows_of(ndims[0], shapes[0]);
  const int64_t parts = part_count(N, C);
  std::vector<float> sums(2 * parts * C, 0.0f);  // per part: its C sums for dgamma, then its C for dbeta
  parallel_for(N, parts, [&](int64_t begin, int64_t end, int part) {
    layer_norm_backward_rows(begin, end, C, (const float *)params[0], (const float *)params[1],
                             (const float *)params[2], (const float *)params[3], (const float *)params[4],
                             (float *)params[5], &sums[2 * part * C], &sums[(2 * part + 1) * C]);
  });
  float *dgamma = (float *)params[6], *dbeta = (float *)params[7];
  for (int64_t c = 0; c < C; c++) {
    dgamma[c] = dbeta[c] = 0.0f;
    for (int64_t p = 0; p < parts; p++) {
      dgamma[c] += sums[2 * p * C + c];
      dbeta[c] += sums[(2 * p + 1) * C + c];
    }
  }
  return 0;
}

// Softmax over the last axis of scores + mask. In: scores (B, H, Q, K), mask (Q, K) or
// (B or 1, 1, Q, K), 0 where a query may see a key and -inf where not. Out: weights (B, H, Q, K).
int MaskedSoftmaxForward(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  AttentionRows rows = attention_rows(ndims, shapes, 1);
  rows.mask = (const float *)params[1];
  const int64_t n = rows_of(ndims[0], shapes[0]);
  parallel_for(n, part_count(n, rows.K), [&](int64_t begin, int64_t end, int) {
    masked_softmax_rows(begin, end, rows, (const float *)params[0], (float *)params[2]);
  });
  return 0;
}

// In: weights (B, H, Q, K) the forward's output, dweights (B, H, Q, K), the forward's mask.
// Out: dscores (B, H, Q, K).
int MaskedSoftmaxBackward(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  AttentionRows rows = attention_rows(ndims, shapes, 2);
  rows.mask = (const float *)params[2];
  const int64_t n = rows_of(ndims[0], shapes[0]);
  parallel_for(n, part_count(n, rows.K), [&](int64_t begin, int64_t end, int) {
    masked_softmax_backward_rows(begin, end, rows, (const float *)params[0], (const float *)params[1],
                                 (float *)params[3]);
  });
  return 0;
}

// Exact GELU, x * Phi(x) with Phi the standard normal CDF. In: x. Out: y.
int GeluForward(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const int64_t n = size_of(ndims[0], shapes[0]);
  parallel_for(n, part_count(n, 8), [&](int64_t begin, int64_t end, int) {
    gelu_range(begin, end, (const float *)params[0], (float *)params[1]);
  });
  return 0;
}

// In: x, dy. Out: dx = dy * (Phi(x) + x * phi(x)), phi the standard normal density.
int GeluBackward(int, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const int64_t n = size_of(ndims[0], shapes[0]);
  parallel_for(n, part_count(n, 8), [&](int64_t begin, int64_t end, int) {
    gelu_backward_range(begin, end, (const float *)params[0], (const float *)params[1], (float *)params[2]);
  });
  return 0;
}

// The document mask, to add to attention scores. In: idx (B, T) int32 token ids, bos (1)
// int32. Out: mask (B, 1, T, T), 0 where query i may see key j (j <= i with no <|bos|> in
// (j, i]) and -inf elsewhere: minigpt.kernels.DocumentMask, in one pass.
int DocumentMask(int, void **params, int *, int64_t **shapes, const char **, void *, void *) {
  const int64_t B = shapes[0][0], T = shapes[0][1];
  parallel_for(B, part_count(B, T * T), [&](int64_t begin, int64_t end, int) {
    document_mask_rows(begin, end, T, (const int32_t *)params[0], *(const int32_t *)params[1], (float *)params[2]);
  });
  return 0;
}

}  // extern "C"
