;; The enrichment step of the postgres-cdc → wasm → postgres mesh test (runner/ABI.md):
;; adds "region":"EU" to the `after` image of a Debezium-shaped change event. Events without
;; an `after` object (deletes) pass unchanged. serde_json's compact form has no spaces, so
;; the image starts exactly at `"after":{`.
(module
  (import "fmesh" "output" (func $output (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "\"after\":{")
  (data (i32.const 32) "\"region\":\"EU\",")

  ;; One message at 4096, with room after it for the inserted field.
  (func (export "alloc") (param $len i32) (result i32)
    (local $need i32)
    (local.set $need (i32.add (i32.const 4200) (local.get $len)))
    (block $done
      (loop $grow
        (br_if $done (i32.le_u (local.get $need) (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow (i32.const 1)))
        (br $grow)))
    (i32.const 4096))

  (func (export "enrich") (param $p i32) (param $l i32) (param $ctx i32) (result i32)
    (local $i i32) (local $at i32) (local $add i32)
    (local.set $at (i32.const -1))
    (block $found
      (loop $scan
        (br_if $found (i32.gt_u (i32.add (local.get $i) (i32.const 9)) (local.get $l)))
        (if (call $match (i32.add (local.get $p) (local.get $i)))
          (then
            (local.set $at (i32.add (local.get $i) (i32.const 9)))
            (br $found)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (if (i32.ge_s (local.get $at) (i32.const 0))
      (then
        (local.set $add (i32.const 14))
        ;; An empty image gets the field without the trailing comma.
        (if (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $at))) (i32.const 125))
          (then (local.set $add (i32.const 13))))
        (memory.copy
          (i32.add (i32.add (local.get $p) (local.get $at)) (local.get $add))
          (i32.add (local.get $p) (local.get $at))
          (i32.sub (local.get $l) (local.get $at)))
        (memory.copy (i32.add (local.get $p) (local.get $at)) (i32.const 32) (local.get $add))
        (local.set $l (i32.add (local.get $l) (local.get $add)))))
    (call $output (local.get $ctx) (local.get $p) (local.get $l))
    (i32.const 0))

  ;; Whether the 9 bytes at $q are `"after":{`.
  (func $match (param $q i32) (result i32)
    (local $k i32)
    (block $no
      (loop $cmp
        (br_if $no (i32.ne
          (i32.load8_u (i32.add (local.get $q) (local.get $k)))
          (i32.load8_u (i32.add (i32.const 16) (local.get $k)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $cmp (i32.lt_u (local.get $k) (i32.const 9)))
        (return (i32.const 1))))
    (i32.const 0))
)
