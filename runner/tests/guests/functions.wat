;; Test guests for the wasm runtime (runner/ABI.md), one export per behaviour.
(module
  (import "fmesh" "output" (func $output (param i32 i32 i32)))
  (import "fmesh" "error" (func $error (param i32 i32 i32)))
  (import "fmesh" "user_config" (func $user_config (param i32 i32 i32 i32 i32) (result i32)))
  (import "fmesh" "incr_counter" (func $incr (param i32 i32 i32 i64) (result i64)))
  (import "fmesh" "log" (func $log (param i32 i32 i32 i32)))
  (import "fmesh" "publish" (func $publish (param i32 i32 i32 i32 i32) (result i32)))
  (import "fmesh" "property" (func $property (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "suffix")
  (data (i32.const 32) "messages")
  (data (i32.const 48) "boom: rejected")
  (data (i32.const 64) "upper")
  (data (i32.const 80) "audit")
  (data (i32.const 96) "tag")

  ;; One message buffer at 1024, with 1 KiB spare after it for appending.
  (func (export "alloc") (param $len i32) (result i32)
    (local $need i32)
    (local.set $need (i32.add (i32.const 2048) (local.get $len)))
    (block $done
      (loop $grow
        (br_if $done (i32.le_u (local.get $need) (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow (i32.const 1)))
        (br $grow)))
    (i32.const 1024))

  (func (export "process") (param $p i32) (param $l i32) (param $ctx i32) (result i32)
    (call $output (local.get $ctx) (local.get $p) (local.get $l))
    (i32.const 0))

  ;; Upper-cases ASCII, appends user config "suffix" and property "tag", counts, logs, and
  ;; publishes the original to the topic named by user config "audit" when set.
  (func (export "upper") (param $p i32) (param $l i32) (param $ctx i32) (result i32)
    (local $i i32) (local $c i32) (local $n i32) (local $t i32)
    (local.set $t (call $user_config (local.get $ctx) (i32.const 80) (i32.const 5) (i32.const 256) (i32.const 512)))
    (if (i32.gt_s (local.get $t) (i32.const 0))
      (then (drop (call $publish (local.get $ctx) (i32.const 256) (local.get $t) (local.get $p) (local.get $l)))))
    (block $end
      (loop $next
        (br_if $end (i32.ge_u (local.get $i) (local.get $l)))
        (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
          (then (i32.store8 (i32.add (local.get $p) (local.get $i)) (i32.sub (local.get $c) (i32.const 32)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.set $n (call $user_config (local.get $ctx) (i32.const 16) (i32.const 6)
      (i32.add (local.get $p) (local.get $l)) (i32.const 512)))
    (if (i32.gt_s (local.get $n) (i32.const 0))
      (then (local.set $l (i32.add (local.get $l) (local.get $n)))))
    (local.set $n (call $property (local.get $ctx) (i32.const 96) (i32.const 3)
      (i32.add (local.get $p) (local.get $l)) (i32.const 256)))
    (if (i32.gt_s (local.get $n) (i32.const 0))
      (then (local.set $l (i32.add (local.get $l) (local.get $n)))))
    (drop (call $incr (local.get $ctx) (i32.const 32) (i32.const 8) (i64.const 1)))
    (call $log (local.get $ctx) (i32.const 1) (i32.const 64) (i32.const 5))
    (call $output (local.get $ctx) (local.get $p) (local.get $l))
    (i32.const 0))

  ;; Loops forever on a payload starting with 'l'.
  (func (export "runaway") (param $p i32) (param $l i32) (param $ctx i32) (result i32)
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 108))
      (then (loop $forever (br $forever))))
    (call $output (local.get $ctx) (local.get $p) (local.get $l))
    (i32.const 0))

  ;; Grows memory without end on a payload starting with 'h'.
  (func (export "hog") (param $p i32) (param $l i32) (param $ctx i32) (result i32)
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 104))
      (then (loop $more (drop (memory.grow (i32.const 16))) (br $more))))
    (call $output (local.get $ctx) (local.get $p) (local.get $l))
    (i32.const 0))

  ;; Fails with an error message on a payload starting with 'b'.
  (func (export "fail") (param $p i32) (param $l i32) (param $ctx i32) (result i32)
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 98))
      (then
        (call $error (local.get $ctx) (i32.const 48) (i32.const 14))
        (return (i32.const 1))))
    (call $output (local.get $ctx) (local.get $p) (local.get $l))
    (i32.const 0))
)
