;; The example mesh's enrichment function (fmesh wasm ABI v1, runner/ABI.md), in WAT so that no
;; wasm toolchain is needed: fmesh-runner compiles it when the pod starts. The runner image
;; carries it as /fmesh/examples/enrich.wat.
;;
;; In:  a JSON object, e.g. {"order_id": 7, "amount": 120}
;; Out: the same object with two fields added:
;;      {"order_id": 7, "amount": 120,"currency":"EUR","enriched_by":"fmesh-wasm"}
;; `currency` comes from the user config (funcConfig.currency, "EUR" when absent). Anything
;; that is not a JSON object is a user error (counted, retried, then dead-lettered or nacked).
(module
  (import "fmesh" "output" (func $output (param i32 i32 i32)))
  (import "fmesh" "error" (func $error (param i32 i32 i32)))
  (import "fmesh" "user_config" (func $user_config (param i32 i32 i32 i32 i32) (result i32)))
  (import "fmesh" "incr_counter" (func $incr (param i32 i32 i32 i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "currency")                      ;; 8 bytes: the user-config key
  (data (i32.const 32) ",\"currency\":\"")              ;; 13 bytes
  (data (i32.const 64) "\",\"enriched_by\":\"fmesh-wasm\"}") ;; 29 bytes
  (data (i32.const 96) "EUR")                           ;; 3 bytes: the default currency
  (data (i32.const 112) "enriched")                     ;; 8 bytes: the counter
  (data (i32.const 128) "enrich: input is not a JSON object") ;; 34 bytes

  ;; The message goes to 1024; the output is built in place after it, so keep room for the
  ;; added fields (42 bytes) and a currency of up to 64 bytes.
  (func (export "alloc") (param $len i32) (result i32)
    (local $need i32)
    (local.set $need (i32.add (i32.const 1200) (local.get $len)))
    (block $done
      (loop $grow
        (br_if $done (i32.le_u (local.get $need) (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow (i32.const 1)))
        (br $grow)))
    (i32.const 1024))

  ;; Copies $n bytes from $src to $dst.
  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    (local $i i32)
    (block $end
      (loop $next
        (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i))
                    (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func (export "process") (param $p i32) (param $l i32) (param $ctx i32) (result i32)
    (local $end i32) (local $n i32)
    ;; A JSON object ends with '}' (0x7d); one with no field yet ("{}") is left alone.
    (if (i32.or (i32.lt_u (local.get $l) (i32.const 2))
                (i32.ne (i32.load8_u (i32.sub (i32.add (local.get $p) (local.get $l)) (i32.const 1)))
                        (i32.const 125)))
      (then
        (call $error (local.get $ctx) (i32.const 128) (i32.const 34))
        (return (i32.const 1))))
    ;; Overwrite the closing brace: ,"currency":"
    (local.set $end (i32.sub (i32.add (local.get $p) (local.get $l)) (i32.const 1)))
    (call $copy (local.get $end) (i32.const 32) (i32.const 13))
    (local.set $end (i32.add (local.get $end) (i32.const 13)))
    ;; the currency from the user config, else EUR
    (local.set $n (call $user_config (local.get $ctx) (i32.const 16) (i32.const 8)
      (local.get $end) (i32.const 64)))
    (if (i32.or (i32.le_s (local.get $n) (i32.const 0)) (i32.gt_s (local.get $n) (i32.const 64)))
      (then
        (call $copy (local.get $end) (i32.const 96) (i32.const 3))
        (local.set $n (i32.const 3))))
    (local.set $end (i32.add (local.get $end) (local.get $n)))
    ;; ","enriched_by":"fmesh-wasm"}
    (call $copy (local.get $end) (i32.const 64) (i32.const 29))
    (local.set $end (i32.add (local.get $end) (i32.const 29)))
    (drop (call $incr (local.get $ctx) (i32.const 112) (i32.const 8) (i64.const 1)))
    (call $output (local.get $ctx) (local.get $p) (i32.sub (local.get $end) (local.get $p)))
    (i32.const 0))
)
