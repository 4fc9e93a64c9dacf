// @ts-nocheck — AssemblyScript, compiled by `npm run build:kernels` (asc), not by tsc: its
// types (i32, f32, v128) and builtins (load, store, f32x4) are AssemblyScript's.
/**
 * The MF client step as a WebAssembly SIMD kernel: one client's local training, Δ and
 * L2 clip, as shared/train/mf-fused-training.ts does it in plain JS (same batches, same
 * working set, same order of SGD updates), with the arithmetic in float32 × 4 lanes:
 *
 * - makeBatches' draws replayed with the same mulberry32 stream (SeededRandom), so the
 *   positives, negatives and working set are exactly the JS kernel's.
 * - Per micro-batch, one pass computes every row's logit b + u·v at the pre-step
 *   parameters (four rows at a time), then σ and ∂L/∂s, then each row that occurs once in
 *   the step gets ∂L/∂u += g·v and v ← v − lr·(g·u + (2·l2/n)·v) in the same pass; repeated
 *   rows (and gradient accumulation) are buffered and applied after it, as the JS kernel.
 * - The loss (softplus terms, ‖v‖², ‖u‖²) only in the last local epoch, only when asked.
 * - Δ = w_local − w_global in place, its sum of squares in float64 in the same pass, and
 *   only a clipped update is touched again.
 *
 * Dot products and gradient sums run in float32 in four partial sums (tfjs on wasm sums
 * in float32 too), so the result is not bit-identical to the JS kernel's float64 sums:
 * within 1e-5 per step of the reference tfjs trainLocally (unit test).
 *
 * Memory: the JS side (shared/train/mf-wasm-training.ts) lays out every region and passes
 * byte offsets in configure(); the kernel allocates nothing. Requires dim % 4 === 0.
 */

// ---- layout and settings (configure) ----
let numItems: i32 = 0;
let dim: i32 = 0;
let gEmb: usize = 0;
let gBias: usize = 0;
/** i32 per item: slot in the current working set, or −1 (kept clean between clients). */
let slotOf: usize = 0;
/** u32 per item: stamp of the last client whose history holds it. */
let seenStamp: usize = 0;
let stamp: u32 = 0;
let positives: usize = 0;
let negatives: usize = 0;
/** i32 per slot: occurrences in the current step (kept zero between steps). */
let countOf: usize = 0;
/** f32 per slot × dim and per slot: buffered gradients of repeated rows (kept zero). */
let gradV: usize = 0;
let gradB: usize = 0;
let gradU: usize = 0;
let batchSlots: usize = 0;
let scores: usize = 0;
let epochs: i32 = 1;
let batchSize: i32 = 32;
let negPer: i32 = 4;
let accumulate: i32 = 1;
let lr: f32 = 0;
let l2: f32 = 0;

// ---- results of the last trainClient ----
let lastLoss: f64 = 0;
let lastNorm: f64 = 0;
let lastClipped: i32 = 0;

export function configure(
  items: i32, d: i32, emb: usize, bias: usize, slots: usize, seen: usize, pos: usize, neg: usize,
  count: usize, gv: usize, gb: usize, gu: usize, bslots: usize, sc: usize,
  ep: i32, bs: i32, np: i32, acc: i32, learningRate: f32, l2reg: f32,
): void {
  numItems = items; dim = d; gEmb = emb; gBias = bias; slotOf = slots; seenStamp = seen;
  positives = pos; negatives = neg; countOf = count; gradV = gv; gradB = gb; gradU = gu;
  batchSlots = bslots; scores = sc; epochs = ep; batchSize = bs; negPer = np; accumulate = acc;
  lr = learningRate; l2 = l2reg;
}

/** After a new layout: slotOf all −1, seenStamp all 0 (the JS side zeroes the scratch). */
export function resetItems(): void {
  memory.fill(slotOf, 0xff, <usize>numItems << 2);
  memory.fill(seenStamp, 0, <usize>numItems << 2);
  stamp = 0;
}

/** Where the kernel's own static data (Math.exp's tables) ends: the JS side lays out from here. */
export function heapBase(): usize { return __heap_base; }

export function loss(): f64 { return lastLoss; }
export function preClipNorm(): f64 { return lastNorm; }
export function clipped(): i32 { return lastClipped; }

// ---- mulberry32, as shared/random/seeded-random.ts ----
let rngState: u32 = 0;
function rngInt(n: i32): i32 {
  let t: u32 = (rngState = rngState + 0x6d2b79f5);
  t = (t ^ (t >>> 15)) * (t | 1);
  t ^= t + (t ^ (t >>> 7)) * (t | 61);
  const x = <f64>((t ^ (t >>> 14)) >>> 0) / 4294967296.0;
  return <i32>Math.floor(x * <f64>n);
}

/**
 * Trains one client: history (len i32 at hist), user vector (dim f32 at user, updated in
 * place), seed; writes its W rows ascending, Δ rows and Δ biases at outRows / outEmb /
 * outBias and returns W. loss(), preClipNorm(), clipped() report the rest.
 */
export function trainClient(hist: usize, len: i32, user: usize, seed: u32, clipNorm: f64, wantLoss: i32, outRows: usize, outEmb: usize, outBias: usize): i32 {
  replayBatches(hist, len, seed);
  const totalPos = epochs * len;
  const W = gatherWorkingSet(totalPos, totalPos * negPer, outRows, outEmb, outBias);
  const numBatches = (len + batchSize - 1) / batchSize;
  const acc = accumulate < 1 ? 1 : accumulate;
  lastLoss = wantLoss ? 0 : NaN;
  for (let e = 0; e < epochs; e++) {
    const lossHere = wantLoss != 0 && e == epochs - 1;
    let sum: f64 = 0;
    for (let g = 0; g < numBatches; g += acc) {
      const gEnd = g + acc < numBatches ? g + acc : numBatches;
      sum = sgdStep(outEmb, outBias, user, e * len, len, g, gEnd, lossHere, sum);
    }
    if (lossHere && numBatches > 0) lastLoss = sum / <f64>numBatches;
  }
  const sumSq = deltaInPlace(outRows, outEmb, outBias, W);
  const norm = Math.sqrt(sumSq);
  lastNorm = norm;
  lastClipped = 0;
  if (norm > clipNorm && isFinite(norm)) {
    lastClipped = 1;
    scaleInPlace(outEmb, W * dim, <f32>(clipNorm / norm));
    scaleInPlace(outBias, W, <f32>(clipNorm / norm));
  }
  return W;
}

function replayBatches(hist: usize, len: i32, seed: u32): void {
  stamp++;
  if (stamp == 0) {
    memory.fill(seenStamp, 0, <usize>numItems << 2);
    stamp = 1;
  }
  const mark = stamp;
  let distinct = 0;
  for (let j = 0; j < len; j++) {
    const p = seenStamp + (<usize>load<i32>(hist + (<usize>j << 2)) << 2);
    if (load<u32>(p) != mark) {
      store<u32>(p, mark);
      distinct++;
    }
  }
  const canReject = distinct < numItems;
  rngState = seed ^ 0x9e3779b9;
  for (let e = 0; e < epochs; e++) {
    const base = e * len;
    const pb = positives + (<usize>base << 2);
    memory.copy(pb, hist, <usize>len << 2);
    for (let i = len - 1; i > 0; i--) {
      const j = rngInt(i + 1);
      const pi = pb + (<usize>i << 2);
      const pj = pb + (<usize>j << 2);
      const t = load<i32>(pi);
      store<i32>(pi, load<i32>(pj));
      store<i32>(pj, t);
    }
    for (let start = 0; start < len; start += batchSize) {
      const stop = start + batchSize < len ? start + batchSize : len;
      const end = (base + stop) * negPer;
      for (let q = (base + start) * negPer; q < end; q++) {
        let item = rngInt(numItems);
        for (let tries = 0; canReject && load<u32>(seenStamp + (<usize>item << 2)) == mark && tries < 100; tries++) item = rngInt(numItems);
        store<i32>(negatives + (<usize>q << 2), item);
      }
    }
  }
}

/** Marks the distinct rows (slotOf 0), lists them ascending, gathers them, rewrites positives/negatives as slots. */
function gatherWorkingSet(totalPos: i32, totalNeg: i32, outRows: usize, outEmb: usize, outBias: usize): i32 {
  let W = 0;
  for (let k = 0; k < totalPos; k++) W += mark(load<i32>(positives + (<usize>k << 2)), outRows, W);
  for (let k = 0; k < totalNeg; k++) W += mark(load<i32>(negatives + (<usize>k << 2)), outRows, W);
  if (numItems <= W * 16) {
    // Dense enough: one scan of the marks lists them in order.
    let r = 0;
    for (let i = 0; i < numItems; i++) {
      if (load<i32>(slotOf + (<usize>i << 2)) == 0) {
        store<i32>(outRows + (<usize>r << 2), i);
        r++;
      }
    }
  } else heapSort(outRows, W);
  const rowBytes = <usize>dim << 2;
  for (let r = 0; r < W; r++) {
    const i = load<i32>(outRows + (<usize>r << 2));
    store<i32>(slotOf + (<usize>i << 2), r);
    store<f32>(outBias + (<usize>r << 2), load<f32>(gBias + (<usize>i << 2)));
    copyRow(outEmb + <usize>r * rowBytes, gEmb + <usize>i * rowBytes, rowBytes);
  }
  for (let k = 0; k < totalPos; k++) {
    const p = positives + (<usize>k << 2);
    store<i32>(p, load<i32>(slotOf + (<usize>load<i32>(p) << 2)));
  }
  for (let k = 0; k < totalNeg; k++) {
    const p = negatives + (<usize>k << 2);
    store<i32>(p, load<i32>(slotOf + (<usize>load<i32>(p) << 2)));
  }
  for (let r = 0; r < W; r++) store<i32>(slotOf + (<usize>load<i32>(outRows + (<usize>r << 2)) << 2), -1);
  return W;
}

/** rowBytes (a multiple of 16) from src to dst, 16 at a time (memory.copy's call costs more than a 128-byte row). */
function copyRow(dst: usize, src: usize, rowBytes: usize): void {
  for (let d: usize = 0; d < rowBytes; d += 16) v128.store(dst + d, v128.load(src + d));
}

/** 1 if item was not yet in the working set (now marked and listed at rows[W]), else 0. */
function mark(item: i32, rows: usize, W: i32): i32 {
  const p = slotOf + (<usize>item << 2);
  if (load<i32>(p) >= 0) return 0;
  store<i32>(p, 0);
  store<i32>(rows + (<usize>W << 2), item);
  return 1;
}

function heapSort(a: usize, n: i32): void {
  for (let start = (n >> 1) - 1; start >= 0; start--) siftDown(a, start, n);
  for (let end = n - 1; end > 0; end--) {
    const t = load<i32>(a);
    store<i32>(a, load<i32>(a + (<usize>end << 2)));
    store<i32>(a + (<usize>end << 2), t);
    siftDown(a, 0, end);
  }
}

function siftDown(a: usize, root: i32, n: i32): void {
  let r = root;
  while (true) {
    let child = 2 * r + 1;
    if (child >= n) return;
    if (child + 1 < n && load<i32>(a + (<usize>(child + 1) << 2)) > load<i32>(a + (<usize>child << 2))) child++;
    const pr = a + (<usize>r << 2);
    const pc = a + (<usize>child << 2);
    const vr = load<i32>(pr);
    const vc = load<i32>(pc);
    if (vr >= vc) return;
    store<i32>(pr, vc);
    store<i32>(pc, vr);
    r = child;
  }
}

function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** One SGD step over micro-batches [g, gEnd) of the epoch starting at ebase (the JS kernel's sgdStep). */
function sgdStep(items: usize, bias: usize, user: usize, ebase: i32, len: i32, g: i32, gEnd: i32, lossHere: bool, lossSum: f64): f64 {
  const divisor = gEnd - g;
  const p0 = ebase + g * batchSize;
  const pEnd = ebase + (len < gEnd * batchSize ? len : gEnd * batchSize);
  for (let k = p0; k < pEnd; k++) bump(load<i32>(positives + (<usize>k << 2)));
  for (let k = p0 * negPer; k < pEnd * negPer; k++) bump(load<i32>(negatives + (<usize>k << 2)));
  const deferAll = divisor > 1;
  const rowBytes = <usize>dim << 2;
  let sum = lossSum;
  memory.fill(gradU, 0, rowBytes);
  for (let mb = g; mb < gEnd; mb++) {
    const b0 = ebase + mb * batchSize;
    const nPos = batchSize < ebase + len - b0 ? batchSize : ebase + len - b0;
    const nRows = nPos * (1 + negPer);
    const regScale = <f32>((2.0 * <f64>l2) / <f64>nPos);
    const c2 = f32x4.splat(<f32>2.0 * l2);
    for (let d: usize = 0; d < rowBytes; d += 16) v128.store(gradU + d, f32x4.add(v128.load(gradU + d), f32x4.mul(c2, v128.load(user + d))));
    memory.copy(batchSlots, positives + (<usize>b0 << 2), <usize>nPos << 2);
    memory.copy(batchSlots + (<usize>nPos << 2), negatives + (<usize>(b0 * negPer) << 2), <usize>(nPos * negPer) << 2);
    const reg = scoreRows(items, bias, user, nRows, lossHere);
    // σ and ∂L/∂s in place of each logit, and the loss: Σ softplus(−s) over positives +
    // Σ softplus(s) over negatives = Σ_k log(1 + e^(−s_k)) + Σ_neg s_k, the logs taken as
    // ONE log of the running product Π(1 + e^(−s_k)) (float64, rescaled by 2^−512 when it
    // grows past 2^512; ≥ 1, so it never underflows), instead of a log1p per row.
    let data: f64 = 0;
    let prod: f64 = 1;
    let scaled: i32 = 0;
    const inv = 1.0 / <f64>nPos;
    const invf = <f32>inv;
    for (let k = 0; k < nRows; k++) {
      const p = scores + (<usize>k << 2);
      const sc = load<f32>(p);
      const ex = Mathf.exp(-sc);
      const sig = <f32>1.0 / (<f32>1.0 + ex);
      if (k < nPos) store<f32>(p, (sig - <f32>1.0) * invf);
      else store<f32>(p, sig * invf);
      if (lossHere) {
        if (k >= nPos) data += <f64>sc;
        if (ex < <f32>1e30) {
          prod *= 1.0 + <f64>ex;
          if (prod > 1.3407807929942597e154) {
            prod *= 7.458340731200207e-155;
            scaled++;
          }
        } else data += -<f64>sc + Math.log1p(Math.exp(<f64>sc)); // e^(−s) overflows float32: this term alone, exactly
      }
    }
    if (lossHere) data += Math.log(prod) + <f64>scaled * 354.891356446692;
    // Rows in order: once in the step → updated now; repeated → buffered.
    for (let k = 0; k < nRows; k++) {
      const slot = load<i32>(batchSlots + (<usize>k << 2));
      const gs = load<f32>(scores + (<usize>k << 2));
      if (deferAll || load<i32>(countOf + (<usize>slot << 2)) > 1) {
        const pb = gradB + (<usize>slot << 2);
        store<f32>(pb, load<f32>(pb) + gs);
        bufferRow(items + <usize>slot * rowBytes, user, gradV + <usize>slot * rowBytes, rowBytes, gs, regScale);
        continue;
      }
      const pb = bias + (<usize>slot << 2);
      store<f32>(pb, load<f32>(pb) - lr * gs);
      stepRow(items + <usize>slot * rowBytes, user, rowBytes, gs, regScale);
    }
    if (lossHere) {
      let uu = f32x4.splat(0);
      for (let d: usize = 0; d < rowBytes; d += 16) {
        const u = v128.load(user + d);
        uu = f32x4.add(uu, f32x4.mul(u, u));
      }
      sum += data * inv + <f64>l2 * (reg * inv + <f64>hsum(uu));
    }
  }
  for (let k = p0; k < pEnd; k++) flushSlot(load<i32>(positives + (<usize>k << 2)), items, bias, rowBytes, divisor, deferAll);
  for (let k = p0 * negPer; k < pEnd * negPer; k++) flushSlot(load<i32>(negatives + (<usize>k << 2)), items, bias, rowBytes, divisor, deferAll);
  const step = f32x4.splat(lr / <f32>divisor);
  for (let d: usize = 0; d < rowBytes; d += 16) v128.store(user + d, f32x4.sub(v128.load(user + d), f32x4.mul(step, v128.load(gradU + d))));
  return sum;
}

function bump(slot: i32): void {
  const p = countOf + (<usize>slot << 2);
  store<i32>(p, load<i32>(p) + 1);
}

/** scores[k] = b + u·v of each batch slot, four rows at a time; returns Σ‖v‖² when withNorms. */
function scoreRows(items: usize, bias: usize, user: usize, n: i32, withNorms: bool): f64 {
  const rowBytes = <usize>dim << 2;
  let reg: f64 = 0;
  let k = 0;
  for (; k + 3 < n; k += 4) {
    const s0 = load<i32>(batchSlots + (<usize>k << 2));
    const s1 = load<i32>(batchSlots + (<usize>(k + 1) << 2));
    const s2 = load<i32>(batchSlots + (<usize>(k + 2) << 2));
    const s3 = load<i32>(batchSlots + (<usize>(k + 3) << 2));
    const r0 = items + <usize>s0 * rowBytes;
    const r1 = items + <usize>s1 * rowBytes;
    const r2 = items + <usize>s2 * rowBytes;
    const r3 = items + <usize>s3 * rowBytes;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    if (withNorms) {
      let q0 = f32x4.splat(0);
      let q1 = f32x4.splat(0);
      let q2 = f32x4.splat(0);
      let q3 = f32x4.splat(0);
      for (let d: usize = 0; d < rowBytes; d += 16) {
        const u = v128.load(user + d);
        const v0 = v128.load(r0 + d);
        const v1 = v128.load(r1 + d);
        const v2 = v128.load(r2 + d);
        const v3 = v128.load(r3 + d);
        a0 = f32x4.add(a0, f32x4.mul(v0, u));
        a1 = f32x4.add(a1, f32x4.mul(v1, u));
        a2 = f32x4.add(a2, f32x4.mul(v2, u));
        a3 = f32x4.add(a3, f32x4.mul(v3, u));
        q0 = f32x4.add(q0, f32x4.mul(v0, v0));
        q1 = f32x4.add(q1, f32x4.mul(v1, v1));
        q2 = f32x4.add(q2, f32x4.mul(v2, v2));
        q3 = f32x4.add(q3, f32x4.mul(v3, v3));
      }
      reg += <f64>hsum(f32x4.add(f32x4.add(q0, q1), f32x4.add(q2, q3)));
    } else {
      for (let d: usize = 0; d < rowBytes; d += 16) {
        const u = v128.load(user + d);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(r0 + d), u));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(r1 + d), u));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(r2 + d), u));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(r3 + d), u));
      }
    }
    const out = scores + (<usize>k << 2);
    store<f32>(out, load<f32>(bias + (<usize>s0 << 2)) + hsum(a0));
    store<f32>(out + 4, load<f32>(bias + (<usize>s1 << 2)) + hsum(a1));
    store<f32>(out + 8, load<f32>(bias + (<usize>s2 << 2)) + hsum(a2));
    store<f32>(out + 12, load<f32>(bias + (<usize>s3 << 2)) + hsum(a3));
  }
  for (; k < n; k++) {
    const s = load<i32>(batchSlots + (<usize>k << 2));
    const r = items + <usize>s * rowBytes;
    let a = f32x4.splat(0);
    let q = f32x4.splat(0);
    for (let d: usize = 0; d < rowBytes; d += 16) {
      const v = v128.load(r + d);
      a = f32x4.add(a, f32x4.mul(v, v128.load(user + d)));
      q = f32x4.add(q, f32x4.mul(v, v));
    }
    store<f32>(scores + (<usize>k << 2), load<f32>(bias + (<usize>s << 2)) + hsum(a));
    if (withNorms) reg += <f64>hsum(q);
  }
  return reg;
}

/** A row that occurs once in its step: ∂L/∂u += g·v, then v ← v − lr·(g·u + regScale·v). */
function stepRow(row: usize, user: usize, rowBytes: usize, gs: f32, regScale: f32): void {
  const g = f32x4.splat(gs);
  const rs = f32x4.splat(regScale);
  const l = f32x4.splat(lr);
  for (let d: usize = 0; d < rowBytes; d += 16) {
    const v = v128.load(row + d);
    v128.store(gradU + d, f32x4.add(v128.load(gradU + d), f32x4.mul(g, v)));
    v128.store(row + d, f32x4.sub(v, f32x4.mul(l, f32x4.add(f32x4.mul(g, v128.load(user + d)), f32x4.mul(rs, v)))));
  }
}

/** A repeated row's contribution, kept for after the step. */
function bufferRow(row: usize, user: usize, gv: usize, rowBytes: usize, gs: f32, regScale: f32): void {
  const g = f32x4.splat(gs);
  const rs = f32x4.splat(regScale);
  for (let d: usize = 0; d < rowBytes; d += 16) {
    const v = v128.load(row + d);
    v128.store(gradU + d, f32x4.add(v128.load(gradU + d), f32x4.mul(g, v)));
    v128.store(gv + d, f32x4.add(v128.load(gv + d), f32x4.add(f32x4.mul(g, v128.load(user + d)), f32x4.mul(rs, v))));
  }
}

/** Applies a buffered slot once and clears it (the JS kernel's flushSlot). */
function flushSlot(slot: i32, items: usize, bias: usize, rowBytes: usize, divisor: i32, deferAll: bool): void {
  const pc = countOf + (<usize>slot << 2);
  const c = load<i32>(pc);
  if (c == 0) return;
  store<i32>(pc, 0);
  if (!deferAll && c == 1) return;
  const scale: f32 = lr / <f32>divisor;
  const pgb = gradB + (<usize>slot << 2);
  const pb = bias + (<usize>slot << 2);
  store<f32>(pb, load<f32>(pb) - scale * load<f32>(pgb));
  store<f32>(pgb, 0);
  const row = items + <usize>slot * rowBytes;
  const gv = gradV + <usize>slot * rowBytes;
  const s = f32x4.splat(scale);
  const zero = f32x4.splat(0);
  for (let d: usize = 0; d < rowBytes; d += 16) {
    v128.store(row + d, f32x4.sub(v128.load(row + d), f32x4.mul(s, v128.load(gv + d))));
    v128.store(gv + d, zero);
  }
}

/** Δ = w_local − w_global in place; returns Σ Δ² in float64 (embedding rows, then biases). */
function deltaInPlace(rows: usize, emb: usize, bias: usize, W: i32): f64 {
  const rowBytes = <usize>dim << 2;
  let acc = f64x2.splat(0);
  for (let r = 0; r < W; r++) {
    const src = gEmb + <usize>load<i32>(rows + (<usize>r << 2)) * rowBytes;
    const dst = emb + <usize>r * rowBytes;
    for (let d: usize = 0; d < rowBytes; d += 16) {
      const x = f32x4.sub(v128.load(dst + d), v128.load(src + d));
      v128.store(dst + d, x);
      const lo = f64x2.promote_low_f32x4(x);
      const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 0, 1));
      acc = f64x2.add(acc, f64x2.add(f64x2.mul(lo, lo), f64x2.mul(hi, hi)));
    }
  }
  let sumSq = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (let r = 0; r < W; r++) {
    const p = bias + (<usize>r << 2);
    const x = load<f32>(p) - load<f32>(gBias + (<usize>load<i32>(rows + (<usize>r << 2)) << 2));
    store<f32>(p, x);
    sumSq += <f64>x * <f64>x;
  }
  return sumSq;
}

function scaleInPlace(a: usize, n: i32, scale: f32): void {
  const s = f32x4.splat(scale);
  const bytes = <usize>n << 2;
  let d: usize = 0;
  for (; d + 16 <= bytes; d += 16) v128.store(a + d, f32x4.mul(s, v128.load(a + d)));
  for (; d < bytes; d += 4) store<f32>(a + d, load<f32>(a + d) * scale);
}
