;; nanscan value-scanning kernel (wasm SIMD): special-value counts, first indexes, finite min/max/sum/sumSq.
;; Compiled by scripts/build-kernel.mjs; only src/kernels/scan.ts calls it.
;;
;; Contract of every export `scan_<dtype>(ptr, len, out)`:
;; - `ptr` is the byte address of `len` elements in the imported memory. Loads are unaligned-safe, but the
;;   wrapper passes 64 KiB-aligned data, so vectors never straddle cache lines.
;; - `out` is an 80-byte record, written from scratch on each call (nothing is read from it on entry):
;;      0 f64 min      8 f64 max      16 f64 sum      24 f64 sumSq     (finite values only)
;;     32 i32 nan     36 i32 posinf   40 i32 neginf   44 i32 fp16Overflow   48 i32 fp32Overflow   (52 pad)
;;     56 i32 firstNan  60 firstPosinf  64 firstNeginf  68 firstFp16Overflow  72 firstFp32Overflow  (76 pad)
;;        (element index from ptr, or -1)
;;   Category k (0 nan, 1 posinf, 2 neginf, 3 fp16Overflow, 4 fp32Overflow) has its count at 32+4k and its
;;   first at 56+4k.
;; - Overflow follows IEEE round-to-nearest-even, as numpy's casts do: a finite value overflows float16 when
;;   |x| >= 65520 (65504 + half an ulp; values in (65504, 65520) round down to 65504), and float32 when
;;   |x| >= 0x1.ffffffp+127 = 3.4028235677973366e38 (FLT_MAX + half an ulp). The two are exclusive: a value
;;   that overflows float32 counts as fp32Overflow only. Float32 data never overflows float32.
;;   With no finite value min stays +inf and max -inf; the wrapper turns that into NaN.
;; - `len` must be small enough that counts fit in i32 (the wrapper calls with at most one arena chunk).
;;
;; Float strategy ("two-tier"): each BLOCK_BYTES block is first scanned with the cheap clean-data loop, which
;; only accumulates min/max (pmin/pmax) and the float64 sums. The block is clean iff its min > -65520, its
;; max < 65520 and its sums are not NaN: pmin/pmax skip NaN, but NaN poisons the sums, and +-inf or a
;; float16 overflow shows up in min or max. A flagged block is rescanned (from L1) by the full loop, which
;; masks non-finite lanes and counts every category; a scalar pass then finds first indexes, only for
;; categories that appeared for the first time. Leftover vectors after the unrolled loop go through the
;; full loop and the last len % lanes elements through the scalar path.
(module
  (import "env" "memory" (memory 1))

  ;; 4 KiB: small enough that a flagged block is rescanned from L1 and that sparse specials only cost
  ;; their own block, large enough that the per-block merge is noise. Must be a multiple of 32.
  (global $BLOCK_BYTES i32 (i32.const 4096))

  (func $init_out (param $out i32)
    (f64.store offset=0 (local.get $out) (f64.const inf))
    (f64.store offset=8 (local.get $out) (f64.const -inf))
    (f64.store offset=16 (local.get $out) (f64.const 0))
    (f64.store offset=24 (local.get $out) (f64.const 0))
    (i64.store offset=32 (local.get $out) (i64.const 0))
    (i64.store offset=40 (local.get $out) (i64.const 0))
    (i64.store offset=48 (local.get $out) (i64.const 0))
    (i64.store offset=56 (local.get $out) (i64.const -1))
    (i64.store offset=64 (local.get $out) (i64.const -1))
    (i64.store offset=72 (local.get $out) (i64.const -1)))

  ;; Category bit of one value: 0 for finite values that fit float16, 1 NaN, 2 +inf, 4 -inf, 8 finite with
  ;; 65520 <= |x| < 0x1.ffffffp+127 (float16 overflow), 16 finite with |x| >= 0x1.ffffffp+127 (float32
  ;; overflow). Float32 values are passed promoted, which is exact.
  (func $class (param $x f64) (result i32)
    (if (result i32) (f64.lt (f64.abs (local.get $x)) (f64.const inf))
      (then
        (i32.add
          (i32.shl (f64.ge (f64.abs (local.get $x)) (f64.const 65520)) (i32.const 3))
          (i32.shl (f64.ge (f64.abs (local.get $x)) (f64.const 0x1.ffffffp+127)) (i32.const 3))))
      (else
        (if (result i32) (f64.ne (local.get $x) (local.get $x))
          (then (i32.const 1))
          (else (select (i32.const 2) (i32.const 4) (f64.gt (local.get $x) (f64.const 0))))))))

  ;; Counts one value of category bit $c at element index $i and records it as first if none yet.
  (func $hit (param $out i32) (param $c i32) (param $i i32)
    (local $p i32)
    (local.set $p (i32.add (local.get $out) (i32.shl (i32.ctz (local.get $c)) (i32.const 2))))
    (i32.store offset=32 (local.get $p) (i32.add (i32.load offset=32 (local.get $p)) (i32.const 1)))
    (if (i32.lt_s (i32.load offset=56 (local.get $p)) (i32.const 0))
      (then (i32.store offset=56 (local.get $p) (local.get $i)))))

  ;; Full scalar treatment of one value (tails only).
  (func $scalar (param $x f64) (param $i i32) (param $out i32)
    (local $c i32)
    (local.set $c (call $class (local.get $x)))
    ;; c is 0, 8 or 16 exactly when x is finite
    (if (i32.eqz (i32.and (local.get $c) (i32.const 7)))
      (then
        (if (f64.lt (local.get $x) (f64.load offset=0 (local.get $out)))
          (then (f64.store offset=0 (local.get $out) (local.get $x))))
        (if (f64.gt (local.get $x) (f64.load offset=8 (local.get $out)))
          (then (f64.store offset=8 (local.get $out) (local.get $x))))
        (f64.store offset=16 (local.get $out) (f64.add (f64.load offset=16 (local.get $out)) (local.get $x)))
        (f64.store offset=24 (local.get $out)
          (f64.add (f64.load offset=24 (local.get $out)) (f64.mul (local.get $x) (local.get $x))))))
    (if (local.get $c) (then (call $hit (local.get $out) (local.get $c) (local.get $i)))))

  ;; Bitmask of categories already counted in out but without a first index yet. Blocks are processed in
  ;; order, so such a category first occurs in the block just counted.
  (func $wanted (param $out i32) (result i32)
    (local $k i32) (local $w i32) (local $p i32)
    (loop $l
      (local.set $p (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 2))))
      (if (i32.and (i32.gt_s (i32.load offset=32 (local.get $p)) (i32.const 0))
                   (i32.lt_s (i32.load offset=56 (local.get $p)) (i32.const 0)))
        (then (local.set $w (i32.or (local.get $w) (i32.shl (i32.const 1) (local.get $k))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 5))))
    (local.get $w))

  ;; Scalar search for the first indexes still wanted, over $n elements of a flagged block starting at
  ;; element index $idx0. Stops as soon as every wanted category is found.
  (func $find_f32 (param $p i32) (param $n i32) (param $idx0 i32) (param $out i32)
    (local $w i32) (local $c i32) (local $i i32)
    (local.set $w (call $wanted (local.get $out)))
    (block $done
      (loop $l
        (br_if $done (i32.or (i32.eqz (local.get $w)) (i32.ge_u (local.get $i) (local.get $n))))
        (local.set $c (i32.and (local.get $w)
          (call $class (f64.promote_f32 (f32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))))))
        (if (local.get $c)
          (then
            (i32.store offset=56 (i32.add (local.get $out) (i32.shl (i32.ctz (local.get $c)) (i32.const 2)))
              (i32.add (local.get $idx0) (local.get $i)))
            (local.set $w (i32.xor (local.get $w) (local.get $c)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))

  (func $find_f64 (param $p i32) (param $n i32) (param $idx0 i32) (param $out i32)
    (local $w i32) (local $c i32) (local $i i32)
    (local.set $w (call $wanted (local.get $out)))
    (block $done
      (loop $l
        (br_if $done (i32.or (i32.eqz (local.get $w)) (i32.ge_u (local.get $i) (local.get $n))))
        (local.set $c (i32.and (local.get $w)
          (call $class (f64.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3)))))))
        (if (local.get $c)
          (then
            (i32.store offset=56 (i32.add (local.get $out) (i32.shl (i32.ctz (local.get $c)) (i32.const 2)))
              (i32.add (local.get $idx0) (local.get $i)))
            (local.set $w (i32.xor (local.get $w) (local.get $c)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))

  (func $add_count (param $out i32) (param $k i32) (param $n i32)
    (local $p i32)
    (local.set $p (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 2))))
    (i32.store offset=32 (local.get $p) (i32.add (i32.load offset=32 (local.get $p)) (local.get $n))))

  (func $hsum_i32x4 (param $v v128) (result i32)
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))

  (func $hsum_i64x2 (param $v v128) (result i32)
    (i32.wrap_i64 (i64.add (i64x2.extract_lane 0 (local.get $v)) (i64x2.extract_lane 1 (local.get $v)))))

  (func $merge_minmax (param $mn f64) (param $mx f64) (param $out i32)
    (if (f64.lt (local.get $mn) (f64.load offset=0 (local.get $out)))
      (then (f64.store offset=0 (local.get $out) (local.get $mn))))
    (if (f64.gt (local.get $mx) (f64.load offset=8 (local.get $out)))
      (then (f64.store offset=8 (local.get $out) (local.get $mx)))))

  ;; Lanes never hold NaN here (pmin/pmax with the accumulator first never take a NaN operand), so pmin and
  ;; pmax reduce correctly; -0 versus +0 is left to the wrapper, which canonicalises zero.
  (func $merge_minmax_f32x4 (param $mn v128) (param $mx v128) (param $out i32)
    (local.set $mn (f32x4.pmin (local.get $mn)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $mn) (local.get $mn))))
    (local.set $mn (f32x4.pmin (local.get $mn)
      (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $mn) (local.get $mn))))
    (local.set $mx (f32x4.pmax (local.get $mx)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $mx) (local.get $mx))))
    (local.set $mx (f32x4.pmax (local.get $mx)
      (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $mx) (local.get $mx))))
    (call $merge_minmax
      (f64.promote_f32 (f32x4.extract_lane 0 (local.get $mn)))
      (f64.promote_f32 (f32x4.extract_lane 0 (local.get $mx)))
      (local.get $out)))

  (func $merge_minmax_f64x2 (param $mn v128) (param $mx v128) (param $out i32)
    (call $merge_minmax
      (f64.min (f64x2.extract_lane 0 (local.get $mn)) (f64x2.extract_lane 1 (local.get $mn)))
      (f64.max (f64x2.extract_lane 0 (local.get $mx)) (f64x2.extract_lane 1 (local.get $mx)))
      (local.get $out)))

  ;; $s and $q are f64x2 partial sums of x and x*x.
  (func $merge_sums (param $s v128) (param $q v128) (param $out i32)
    (f64.store offset=16 (local.get $out)
      (f64.add (f64.load offset=16 (local.get $out))
        (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s)))))
    (f64.store offset=24 (local.get $out)
      (f64.add (f64.load offset=24 (local.get $out))
        (f64.add (f64x2.extract_lane 0 (local.get $q)) (f64x2.extract_lane 1 (local.get $q))))))

  ;; Full loop over $nvec >= 1 vectors of f32 whose first element has index $idx0: counts every category,
  ;; masks non-finite lanes out of min/max/sums, merges into out, then finds new first indexes.
  (func $full_f32 (param $p i32) (param $nvec i32) (param $idx0 i32) (param $out i32)
    (local $start i32) (local $end i32)
    (local $v v128) (local $a v128) (local $fin v128) (local $vn v128) (local $vz v128)
    (local $lo v128) (local $hi v128)
    (local $mn v128) (local $mx v128) (local $s0 v128) (local $s1 v128) (local $q0 v128) (local $q1 v128)
    (local $cn v128) (local $cp v128) (local $cm v128) (local $co v128)
    (local.set $start (local.get $p))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $nvec) (i32.const 4))))
    (local.set $mn (v128.const f32x4 inf inf inf inf))
    (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
    (loop $l
      (local.set $v (v128.load (local.get $p)))
      (local.set $a (f32x4.abs (local.get $v)))
      (local.set $fin (f32x4.lt (local.get $a) (v128.const f32x4 inf inf inf inf)))
      ;; comparison masks are all-ones (-1) per true lane, so subtracting counts up
      (local.set $cn (i32x4.sub (local.get $cn) (f32x4.ne (local.get $v) (local.get $v))))
      (local.set $cp (i32x4.sub (local.get $cp) (f32x4.eq (local.get $v) (v128.const f32x4 inf inf inf inf))))
      (local.set $cm (i32x4.sub (local.get $cm) (f32x4.eq (local.get $v) (v128.const f32x4 -inf -inf -inf -inf))))
      (local.set $co (i32x4.sub (local.get $co)
        (v128.and (local.get $fin) (f32x4.ge (local.get $a) (v128.const f32x4 65520 65520 65520 65520)))))
      ;; all-ones is a NaN, which pmin/pmax with the accumulator as first operand ignore
      (local.set $vn (v128.or (local.get $v) (v128.not (local.get $fin))))
      (local.set $mn (f32x4.pmin (local.get $mn) (local.get $vn)))
      (local.set $mx (f32x4.pmax (local.get $mx) (local.get $vn)))
      (local.set $vz (v128.and (local.get $v) (local.get $fin)))
      (local.set $lo (f64x2.promote_low_f32x4 (local.get $vz)))
      (local.set $hi (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $vz) (local.get $vz))))
      (local.set $s0 (f64x2.add (local.get $s0) (local.get $lo)))
      (local.set $s1 (f64x2.add (local.get $s1) (local.get $hi)))
      (local.set $q0 (f64x2.add (local.get $q0) (f64x2.mul (local.get $lo) (local.get $lo))))
      (local.set $q1 (f64x2.add (local.get $q1) (f64x2.mul (local.get $hi) (local.get $hi))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $p) (local.get $end))))
    (call $add_count (local.get $out) (i32.const 0) (call $hsum_i32x4 (local.get $cn)))
    (call $add_count (local.get $out) (i32.const 1) (call $hsum_i32x4 (local.get $cp)))
    (call $add_count (local.get $out) (i32.const 2) (call $hsum_i32x4 (local.get $cm)))
    (call $add_count (local.get $out) (i32.const 3) (call $hsum_i32x4 (local.get $co)))
    (call $merge_minmax_f32x4 (local.get $mn) (local.get $mx) (local.get $out))
    (call $merge_sums (f64x2.add (local.get $s0) (local.get $s1)) (f64x2.add (local.get $q0) (local.get $q1))
      (local.get $out))
    (call $find_f32 (local.get $start) (i32.shl (local.get $nvec) (i32.const 2)) (local.get $idx0) (local.get $out)))

  (func $full_f64 (param $p i32) (param $nvec i32) (param $idx0 i32) (param $out i32)
    (local $start i32) (local $end i32)
    (local $v v128) (local $a v128) (local $fin v128) (local $vn v128) (local $vz v128)
    (local $mn v128) (local $mx v128) (local $s v128) (local $q v128)
    (local $cn v128) (local $cp v128) (local $cm v128) (local $co v128) (local $c32 v128)
    (local.set $start (local.get $p))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $nvec) (i32.const 4))))
    (local.set $mn (v128.const f64x2 inf inf))
    (local.set $mx (v128.const f64x2 -inf -inf))
    (loop $l
      (local.set $v (v128.load (local.get $p)))
      (local.set $a (f64x2.abs (local.get $v)))
      (local.set $fin (f64x2.lt (local.get $a) (v128.const f64x2 inf inf)))
      (local.set $cn (i64x2.sub (local.get $cn) (f64x2.ne (local.get $v) (local.get $v))))
      (local.set $cp (i64x2.sub (local.get $cp) (f64x2.eq (local.get $v) (v128.const f64x2 inf inf))))
      (local.set $cm (i64x2.sub (local.get $cm) (f64x2.eq (local.get $v) (v128.const f64x2 -inf -inf))))
      (local.set $co (i64x2.sub (local.get $co)
        (v128.and (local.get $fin) (f64x2.ge (local.get $a) (v128.const f64x2 65520 65520)))))
      ;; float32 overflow is counted apart and taken back out of the float16 count (exclusive categories)
      (local.set $c32 (i64x2.sub (local.get $c32)
        (v128.and (local.get $fin) (f64x2.ge (local.get $a) (v128.const f64x2 0x1.ffffffp+127 0x1.ffffffp+127)))))
      (local.set $vn (v128.or (local.get $v) (v128.not (local.get $fin))))
      (local.set $mn (f64x2.pmin (local.get $mn) (local.get $vn)))
      (local.set $mx (f64x2.pmax (local.get $mx) (local.get $vn)))
      (local.set $vz (v128.and (local.get $v) (local.get $fin)))
      (local.set $s (f64x2.add (local.get $s) (local.get $vz)))
      (local.set $q (f64x2.add (local.get $q) (f64x2.mul (local.get $vz) (local.get $vz))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $p) (local.get $end))))
    (call $add_count (local.get $out) (i32.const 0) (call $hsum_i64x2 (local.get $cn)))
    (call $add_count (local.get $out) (i32.const 1) (call $hsum_i64x2 (local.get $cp)))
    (call $add_count (local.get $out) (i32.const 2) (call $hsum_i64x2 (local.get $cm)))
    (call $add_count (local.get $out) (i32.const 3)
      (i32.sub (call $hsum_i64x2 (local.get $co)) (call $hsum_i64x2 (local.get $c32))))
    (call $add_count (local.get $out) (i32.const 4) (call $hsum_i64x2 (local.get $c32)))
    (call $merge_minmax_f64x2 (local.get $mn) (local.get $mx) (local.get $out))
    (call $merge_sums (local.get $s) (local.get $q) (local.get $out))
    (call $find_f64 (local.get $start) (i32.shl (local.get $nvec) (i32.const 1)) (local.get $idx0) (local.get $out)))

  (func (export "scan_f32") (param $ptr i32) (param $len i32) (param $out i32)
    (local $p i32) (local $bstart i32) (local $bend i32) (local $pend i32) (local $nvec i32) (local $i i32)
    (local $v0 v128) (local $v1 v128) (local $lo v128) (local $hi v128)
    (local $gmn v128) (local $gmx v128) (local $gs v128) (local $gq v128)
    (local $mn v128) (local $mx v128) (local $s0 v128) (local $s1 v128) (local $q0 v128) (local $q1 v128)
    (call $init_out (local.get $out))
    (local.set $nvec (i32.shr_u (local.get $len) (i32.const 2)))
    (local.set $gmn (v128.const f32x4 inf inf inf inf))
    (local.set $gmx (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $p (local.get $ptr))
    ;; the clean loop takes vectors in pairs; an odd last vector goes to the full loop below
    (local.set $pend (i32.add (local.get $ptr) (i32.shl (i32.and (local.get $nvec) (i32.const -2)) (i32.const 4))))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $p) (local.get $pend)))
        (local.set $bstart (local.get $p))
        (local.set $bend (i32.add (local.get $p) (global.get $BLOCK_BYTES)))
        (if (i32.gt_u (local.get $bend) (local.get $pend)) (then (local.set $bend (local.get $pend))))
        (local.set $mn (v128.const f32x4 inf inf inf inf))
        (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $s0 (v128.const i64x2 0 0))
        (local.set $s1 (v128.const i64x2 0 0))
        (local.set $q0 (v128.const i64x2 0 0))
        (local.set $q1 (v128.const i64x2 0 0))
        (loop $clean
          (local.set $v0 (v128.load offset=0 (local.get $p)))
          (local.set $v1 (v128.load offset=16 (local.get $p)))
          (local.set $mn (f32x4.pmin (f32x4.pmin (local.get $mn) (local.get $v0)) (local.get $v1)))
          (local.set $mx (f32x4.pmax (f32x4.pmax (local.get $mx) (local.get $v0)) (local.get $v1)))
          (local.set $lo (f64x2.promote_low_f32x4 (local.get $v0)))
          (local.set $hi (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v0) (local.get $v0))))
          (local.set $s0 (f64x2.add (local.get $s0) (local.get $lo)))
          (local.set $s1 (f64x2.add (local.get $s1) (local.get $hi)))
          (local.set $q0 (f64x2.add (local.get $q0) (f64x2.mul (local.get $lo) (local.get $lo))))
          (local.set $q1 (f64x2.add (local.get $q1) (f64x2.mul (local.get $hi) (local.get $hi))))
          (local.set $lo (f64x2.promote_low_f32x4 (local.get $v1)))
          (local.set $hi (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v1) (local.get $v1))))
          (local.set $s0 (f64x2.add (local.get $s0) (local.get $lo)))
          (local.set $s1 (f64x2.add (local.get $s1) (local.get $hi)))
          (local.set $q0 (f64x2.add (local.get $q0) (f64x2.mul (local.get $lo) (local.get $lo))))
          (local.set $q1 (f64x2.add (local.get $q1) (f64x2.mul (local.get $hi) (local.get $hi))))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br_if $clean (i32.lt_u (local.get $p) (local.get $bend))))
        (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
        (local.set $q0 (f64x2.add (local.get $q0) (local.get $q1)))
        (if (i32.and
              (i32.and
                (i32x4.all_true (f32x4.gt (local.get $mn) (v128.const f32x4 -65520 -65520 -65520 -65520)))
                (i32x4.all_true (f32x4.lt (local.get $mx) (v128.const f32x4 65520 65520 65520 65520))))
              (i64x2.all_true (f64x2.eq (local.get $s0) (local.get $s0))))
          (then
            (local.set $gmn (f32x4.pmin (local.get $gmn) (local.get $mn)))
            (local.set $gmx (f32x4.pmax (local.get $gmx) (local.get $mx)))
            (local.set $gs (f64x2.add (local.get $gs) (local.get $s0)))
            (local.set $gq (f64x2.add (local.get $gq) (local.get $q0))))
          (else
            (call $full_f32 (local.get $bstart)
              (i32.shr_u (i32.sub (local.get $bend) (local.get $bstart)) (i32.const 4))
              (i32.shr_u (i32.sub (local.get $bstart) (local.get $ptr)) (i32.const 2))
              (local.get $out))))
        (br $blocks)))
    (if (i32.and (local.get $nvec) (i32.const 1))
      (then (call $full_f32 (local.get $pend) (i32.const 1)
              (i32.shr_u (i32.sub (local.get $pend) (local.get $ptr)) (i32.const 2)) (local.get $out))))
    (local.set $i (i32.shl (local.get $nvec) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $len)))
        (call $scalar
          (f64.promote_f32 (f32.load (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 2)))))
          (local.get $i) (local.get $out))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (call $merge_minmax_f32x4 (local.get $gmn) (local.get $gmx) (local.get $out))
    (call $merge_sums (local.get $gs) (local.get $gq) (local.get $out)))

  (func (export "scan_f64") (param $ptr i32) (param $len i32) (param $out i32)
    (local $p i32) (local $bstart i32) (local $bend i32) (local $pend i32) (local $nvec i32) (local $i i32)
    (local $v0 v128) (local $v1 v128)
    (local $gmn v128) (local $gmx v128) (local $gs v128) (local $gq v128)
    (local $mn v128) (local $mx v128) (local $s0 v128) (local $s1 v128) (local $q0 v128) (local $q1 v128)
    (call $init_out (local.get $out))
    (local.set $nvec (i32.shr_u (local.get $len) (i32.const 1)))
    (local.set $gmn (v128.const f64x2 inf inf))
    (local.set $gmx (v128.const f64x2 -inf -inf))
    (local.set $p (local.get $ptr))
    (local.set $pend (i32.add (local.get $ptr) (i32.shl (i32.and (local.get $nvec) (i32.const -2)) (i32.const 4))))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $p) (local.get $pend)))
        (local.set $bstart (local.get $p))
        (local.set $bend (i32.add (local.get $p) (global.get $BLOCK_BYTES)))
        (if (i32.gt_u (local.get $bend) (local.get $pend)) (then (local.set $bend (local.get $pend))))
        (local.set $mn (v128.const f64x2 inf inf))
        (local.set $mx (v128.const f64x2 -inf -inf))
        (local.set $s0 (v128.const i64x2 0 0))
        (local.set $s1 (v128.const i64x2 0 0))
        (local.set $q0 (v128.const i64x2 0 0))
        (local.set $q1 (v128.const i64x2 0 0))
        (loop $clean
          (local.set $v0 (v128.load offset=0 (local.get $p)))
          (local.set $v1 (v128.load offset=16 (local.get $p)))
          (local.set $mn (f64x2.pmin (f64x2.pmin (local.get $mn) (local.get $v0)) (local.get $v1)))
          (local.set $mx (f64x2.pmax (f64x2.pmax (local.get $mx) (local.get $v0)) (local.get $v1)))
          (local.set $s0 (f64x2.add (local.get $s0) (local.get $v0)))
          (local.set $s1 (f64x2.add (local.get $s1) (local.get $v1)))
          (local.set $q0 (f64x2.add (local.get $q0) (f64x2.mul (local.get $v0) (local.get $v0))))
          (local.set $q1 (f64x2.add (local.get $q1) (f64x2.mul (local.get $v1) (local.get $v1))))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br_if $clean (i32.lt_u (local.get $p) (local.get $bend))))
        (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
        (local.set $q0 (f64x2.add (local.get $q0) (local.get $q1)))
        (if (i32.and
              (i32.and
                (i64x2.all_true (f64x2.gt (local.get $mn) (v128.const f64x2 -65520 -65520)))
                (i64x2.all_true (f64x2.lt (local.get $mx) (v128.const f64x2 65520 65520))))
              (i64x2.all_true (f64x2.eq (local.get $s0) (local.get $s0))))
          (then
            (local.set $gmn (f64x2.pmin (local.get $gmn) (local.get $mn)))
            (local.set $gmx (f64x2.pmax (local.get $gmx) (local.get $mx)))
            (local.set $gs (f64x2.add (local.get $gs) (local.get $s0)))
            (local.set $gq (f64x2.add (local.get $gq) (local.get $q0))))
          (else
            (call $full_f64 (local.get $bstart)
              (i32.shr_u (i32.sub (local.get $bend) (local.get $bstart)) (i32.const 4))
              (i32.shr_u (i32.sub (local.get $bstart) (local.get $ptr)) (i32.const 3))
              (local.get $out))))
        (br $blocks)))
    (if (i32.and (local.get $nvec) (i32.const 1))
      (then (call $full_f64 (local.get $pend) (i32.const 1)
              (i32.shr_u (i32.sub (local.get $pend) (local.get $ptr)) (i32.const 3)) (local.get $out))))
    (local.set $i (i32.shl (local.get $nvec) (i32.const 1)))
    (if (i32.lt_u (local.get $i) (local.get $len))
      (then (call $scalar (f64.load (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 3))))
              (local.get $i) (local.get $out))))
    (call $merge_minmax_f64x2 (local.get $gmn) (local.get $gmx) (local.get $out))
    (call $merge_sums (local.get $gs) (local.get $gq) (local.get $out)))

  ;; Shifted sums for exact moments: `moments_<dtype>(ptr, len, c, masked, out)` writes S1 = Σ(x − c) to
  ;; out+16 and S2 = Σ(x − c)² to out+24, over finite values only (float64 arithmetic; NaN and ±Inf lanes
  ;; contribute 0), and touches nothing else of out. `masked` = 0 says the data holds no NaN or ±Inf, and skips
  ;; the masking (a third fewer operations). The wrapper calls it, right after a scan of the same data, with c the
  ;; one-pass mean, when Σx² − (Σx)²/n would cancel: data far from 0 with a small spread.
  (func (export "moments_f32") (param $ptr i32) (param $len i32) (param $c f64) (param $masked i32) (param $out i32)
    (local $p i32) (local $end i32) (local $i i32) (local $x f64)
    (local $v v128) (local $fin v128) (local $cc v128) (local $lo v128) (local $hi v128)
    (local $s0 v128) (local $s1 v128) (local $q0 v128) (local $q1 v128)
    (local.set $cc (f64x2.splat (local.get $c)))
    (local.set $p (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr) (i32.shl (i32.shr_u (local.get $len) (i32.const 2)) (i32.const 4))))
    (if (i32.eqz (local.get $masked))
      (then
        (block $done0
          (loop $l0
            (br_if $done0 (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $v (v128.load (local.get $p)))
            (local.set $lo (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $cc)))
            (local.set $hi (f64x2.sub (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $cc)))
            (local.set $s0 (f64x2.add (local.get $s0) (local.get $lo)))
            (local.set $s1 (f64x2.add (local.get $s1) (local.get $hi)))
            (local.set $q0 (f64x2.add (local.get $q0) (f64x2.mul (local.get $lo) (local.get $lo))))
            (local.set $q1 (f64x2.add (local.get $q1) (f64x2.mul (local.get $hi) (local.get $hi))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $l0)))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $fin (f32x4.lt (f32x4.abs (local.get $v)) (v128.const f32x4 inf inf inf inf)))
        (local.set $lo (v128.and (i64x2.extend_low_i32x4_s (local.get $fin))
          (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $cc))))
        (local.set $hi (v128.and (i64x2.extend_high_i32x4_s (local.get $fin))
          (f64x2.sub (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $cc))))
        (local.set $s0 (f64x2.add (local.get $s0) (local.get $lo)))
        (local.set $s1 (f64x2.add (local.get $s1) (local.get $hi)))
        (local.set $q0 (f64x2.add (local.get $q0) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $q1 (f64x2.add (local.get $q1) (f64x2.mul (local.get $hi) (local.get $hi))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l)))
    (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
    (local.set $q0 (f64x2.add (local.get $q0) (local.get $q1)))
    (local.set $i (i32.and (local.get $len) (i32.const -4)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $x (f64.promote_f32 (f32.load (i32.add (local.get $ptr) (i32.shl (local.get $i) (i32.const 2))))))
        (if (f64.lt (f64.abs (local.get $x)) (f64.const inf))
          (then
            (local.set $x (f64.sub (local.get $x) (local.get $c)))
            (local.set $s0 (f64x2.replace_lane 0 (local.get $s0)
              (f64.add (f64x2.extract_lane 0 (local.get $s0)) (local.get $x))))
            (local.set $q0 (f64x2.replace_lane 0 (local.get $q0)
              (f64.add (f64x2.extract_lane 0 (local.get $q0)) (f64.mul (local.get $x) (local.get $x)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (f64.store offset=16 (local.get $out)
      (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
    (f64.store offset=24 (local.get $out)
      (f64.add (f64x2.extract_lane 0 (local.get $q0)) (f64x2.extract_lane 1 (local.get $q0)))))

  (func (export "moments_f64") (param $ptr i32) (param $len i32) (param $c f64) (param $masked i32) (param $out i32)
    (local $p i32) (local $end i32) (local $x f64)
    (local $v0 v128) (local $v1 v128) (local $cc v128)
    (local $s0 v128) (local $s1 v128) (local $q0 v128) (local $q1 v128)
    (local.set $cc (f64x2.splat (local.get $c)))
    (local.set $p (local.get $ptr))
    ;; pairs of vectors; then at most one vector and one element are left
    (local.set $end (i32.add (local.get $ptr) (i32.shl (i32.shr_u (local.get $len) (i32.const 2)) (i32.const 5))))
    (if (i32.eqz (local.get $masked))
      (then
        (block $done0
          (loop $l0
            (br_if $done0 (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $v0 (f64x2.sub (v128.load offset=0 (local.get $p)) (local.get $cc)))
            (local.set $v1 (f64x2.sub (v128.load offset=16 (local.get $p)) (local.get $cc)))
            (local.set $s0 (f64x2.add (local.get $s0) (local.get $v0)))
            (local.set $s1 (f64x2.add (local.get $s1) (local.get $v1)))
            (local.set $q0 (f64x2.add (local.get $q0) (f64x2.mul (local.get $v0) (local.get $v0))))
            (local.set $q1 (f64x2.add (local.get $q1) (f64x2.mul (local.get $v1) (local.get $v1))))
            (local.set $p (i32.add (local.get $p) (i32.const 32)))
            (br $l0)))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v0 (v128.load offset=0 (local.get $p)))
        (local.set $v1 (v128.load offset=16 (local.get $p)))
        (local.set $v0 (v128.and (f64x2.lt (f64x2.abs (local.get $v0)) (v128.const f64x2 inf inf))
          (f64x2.sub (local.get $v0) (local.get $cc))))
        (local.set $v1 (v128.and (f64x2.lt (f64x2.abs (local.get $v1)) (v128.const f64x2 inf inf))
          (f64x2.sub (local.get $v1) (local.get $cc))))
        (local.set $s0 (f64x2.add (local.get $s0) (local.get $v0)))
        (local.set $s1 (f64x2.add (local.get $s1) (local.get $v1)))
        (local.set $q0 (f64x2.add (local.get $q0) (f64x2.mul (local.get $v0) (local.get $v0))))
        (local.set $q1 (f64x2.add (local.get $q1) (f64x2.mul (local.get $v1) (local.get $v1))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $l)))
    (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
    (local.set $q0 (f64x2.add (local.get $q0) (local.get $q1)))
    (local.set $end (i32.add (local.get $ptr) (i32.shl (local.get $len) (i32.const 3))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $x (f64.load (local.get $p)))
        (if (f64.lt (f64.abs (local.get $x)) (f64.const inf))
          (then
            (local.set $x (f64.sub (local.get $x) (local.get $c)))
            (local.set $s0 (f64x2.replace_lane 0 (local.get $s0)
              (f64.add (f64x2.extract_lane 0 (local.get $s0)) (local.get $x))))
            (local.set $q0 (f64x2.replace_lane 0 (local.get $q0)
              (f64.add (f64x2.extract_lane 0 (local.get $q0)) (f64.mul (local.get $x) (local.get $x)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $tail)))
    (f64.store offset=16 (local.get $out)
      (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
    (f64.store offset=24 (local.get $out)
      (f64.add (f64x2.extract_lane 0 (local.get $q0)) (f64x2.extract_lane 1 (local.get $q0)))))

  ;; u8 has no special values: counts and firsts stay as $init_out left them. Sums are exact integers.
  ;; Per 128-vector block, x sums go to i16 lanes (<= 128 * 2 * 255 = 65280, no unsigned overflow) and
  ;; x*x sums to i32 lanes through pmaddwd-style dot products (<= 128 * 4 * 65025 < 2^31); each block is
  ;; then flushed into f64x2 lanes, which are exact below 2^53.
  (func (export "scan_u8") (param $ptr i32) (param $len i32) (param $out i32)
    (local $p i32) (local $bend i32) (local $pend i32) (local $nvec i32) (local $i i32)
    (local $v v128) (local $lo v128) (local $hi v128)
    (local $mn v128) (local $mx v128) (local $s16 v128) (local $q32 v128) (local $s32 v128)
    (local $fs v128) (local $fq v128)
    (call $init_out (local.get $out))
    (local.set $nvec (i32.shr_u (local.get $len) (i32.const 4)))
    (local.set $mn (v128.const i8x16 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1))
    (local.set $p (local.get $ptr))
    (local.set $pend (i32.add (local.get $ptr) (i32.shl (local.get $nvec) (i32.const 4))))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $p) (local.get $pend)))
        (local.set $bend (i32.add (local.get $p) (i32.const 2048)))
        (if (i32.gt_u (local.get $bend) (local.get $pend)) (then (local.set $bend (local.get $pend))))
        (local.set $s16 (v128.const i64x2 0 0))
        (local.set $q32 (v128.const i64x2 0 0))
        (loop $inner
          (local.set $v (v128.load (local.get $p)))
          (local.set $mn (i8x16.min_u (local.get $mn) (local.get $v)))
          (local.set $mx (i8x16.max_u (local.get $mx) (local.get $v)))
          (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
          (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
          (local.set $s16 (i16x8.add (local.get $s16) (i16x8.add (local.get $lo) (local.get $hi))))
          (local.set $q32 (i32x4.add (local.get $q32)
            (i32x4.add (i32x4.dot_i16x8_s (local.get $lo) (local.get $lo))
                       (i32x4.dot_i16x8_s (local.get $hi) (local.get $hi)))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $inner (i32.lt_u (local.get $p) (local.get $bend))))
        (local.set $s32 (i32x4.extadd_pairwise_i16x8_u (local.get $s16)))
        (local.set $fs (f64x2.add (local.get $fs) (f64x2.add
          (f64x2.convert_low_i32x4_u (local.get $s32))
          (f64x2.convert_low_i32x4_u
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $s32) (local.get $s32))))))
        (local.set $fq (f64x2.add (local.get $fq) (f64x2.add
          (f64x2.convert_low_i32x4_u (local.get $q32))
          (f64x2.convert_low_i32x4_u
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $q32) (local.get $q32))))))
        (br $blocks)))
    (if (local.get $nvec)
      (then
        ;; horizontal min/max over the 16 byte lanes by halving; skipped when no full vector was read, so
        ;; the identities 255/0 (both real byte values) never reach out
        (local.set $mn (i8x16.min_u (local.get $mn)
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $mn) (local.get $mn))))
        (local.set $mn (i8x16.min_u (local.get $mn)
          (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $mn) (local.get $mn))))
        (local.set $mn (i8x16.min_u (local.get $mn)
          (i8x16.shuffle 2 3 0 1 2 3 0 1 2 3 0 1 2 3 0 1 (local.get $mn) (local.get $mn))))
        (local.set $mn (i8x16.min_u (local.get $mn)
          (i8x16.shuffle 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 (local.get $mn) (local.get $mn))))
        (local.set $mx (i8x16.max_u (local.get $mx)
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $mx) (local.get $mx))))
        (local.set $mx (i8x16.max_u (local.get $mx)
          (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $mx) (local.get $mx))))
        (local.set $mx (i8x16.max_u (local.get $mx)
          (i8x16.shuffle 2 3 0 1 2 3 0 1 2 3 0 1 2 3 0 1 (local.get $mx) (local.get $mx))))
        (local.set $mx (i8x16.max_u (local.get $mx)
          (i8x16.shuffle 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 (local.get $mx) (local.get $mx))))
        (call $merge_minmax
          (f64.convert_i32_u (i8x16.extract_lane_u 0 (local.get $mn)))
          (f64.convert_i32_u (i8x16.extract_lane_u 0 (local.get $mx)))
          (local.get $out))
        (call $merge_sums (local.get $fs) (local.get $fq) (local.get $out))))
    (local.set $i (i32.shl (local.get $nvec) (i32.const 4)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $len)))
        (call $scalar (f64.convert_i32_u (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
          (local.get $i) (local.get $out))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))
)
