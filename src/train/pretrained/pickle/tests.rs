//! Unit tests of [`super`] (pickle.rs).

use super::*;

/// `pickle.dumps({'a': [1, 300, -2], 'b': (None, True, 1.5), 'c': 'é'}, protocol=2)`
const DICT_P2: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01M,\x01J\xfe\xff\xff\xffeX\x01\x00\x00\x00bq\x03N\x88G?\xf8\x00\x00\x00\x00\x00\x00\x87q\x04X\x01\x00\x00\x00cq\x05X\x02\x00\x00\x00\xc3\xa9q\x06u.";

/// `x = []; pickle.dumps((x, x, 2**70, -1), protocol=4)`: a shared list, a LONG1, FRAME, MEMOIZE.
const SHARED_P4: &[u8] = b"\x80\x04\x95\x18\x00\x00\x00\x00\x00\x00\x00(]\x94h\x00\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@J\xff\xff\xff\xfft\x94.";

fn dict_get<'a>(pairs: &'a [(Value, Value)], key: &str) -> &'a Value {
    &pairs
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .unwrap()
        .1
}

#[test]
fn reads_python_protocol_2_containers_and_scalars() {
    let (value, end) = read(DICT_P2, 0).unwrap();
    assert_eq!(end, DICT_P2.len());
    let Value::Dict(dict) = value else {
        panic!("not a dict")
    };
    let dict = dict.borrow();
    let Value::List(a) = dict_get(&dict, "a") else {
        panic!()
    };
    let a: Vec<i128> = a.borrow().iter().map(|v| v.as_int().unwrap()).collect();
    assert_eq!(a, vec![1, 300, -2]);
    let Value::Tuple(b) = dict_get(&dict, "b") else {
        panic!()
    };
    assert!(matches!(b[..], [Value::None, Value::Bool(true), Value::Float(f)] if f == 1.5));
    assert_eq!(dict_get(&dict, "c").as_str(), Some("é"));
}

#[test]
fn memo_shares_containers_and_long_integers_decode() {
    let (value, _) = read(SHARED_P4, 0).unwrap();
    let Value::Tuple(items) = value else {
        panic!("not a tuple")
    };
    let (Value::List(first), Value::List(second)) = (&items[0], &items[1]) else {
        panic!()
    };
    assert!(
        Rc::ptr_eq(first, second),
        "the memo must return the same list"
    );
    assert_eq!(items[2].as_int(), Some(1i128 << 70));
    assert_eq!(items[3].as_int(), Some(-1));
}

#[test]
fn reads_consecutive_pickles_from_one_buffer() {
    let mut bytes = DICT_P2.to_vec();
    bytes.extend_from_slice(SHARED_P4);
    let (_, end) = read(&bytes, 0).unwrap();
    let (second, end2) = read(&bytes, end).unwrap();
    assert!(matches!(second, Value::Tuple(_)));
    assert_eq!(end2, bytes.len());
}

#[test]
fn globals_are_recorded_and_persistent_ids_kept() {
    // GLOBAL torch._utils _rebuild; MARK 'k' BINPERSID ... built by hand: f(pid('k'), 3)
    let bytes = b"\x80\x02ctorch._utils\n_rebuild\nq\x00X\x01\x00\x00\x00kQK\x03\x86R.";
    let (value, _) = read(bytes, 0).unwrap();
    let Value::Object(object) = value else {
        panic!("not an object")
    };
    let object = object.borrow();
    assert!(object.callable.is_global("torch._utils", "_rebuild"));
    assert!(matches!(&object.args[0], Value::Persistent(pid) if pid.as_str() == Some("k")));
    assert_eq!(object.args[1].as_int(), Some(3));
}

#[test]
fn ordered_dict_calls_become_dicts_that_accept_items() {
    let bytes = b"\x80\x02ccollections\nOrderedDict\n)RX\x01\x00\x00\x00kK\x07s}b.";
    let (value, _) = read(bytes, 0).unwrap();
    let Value::Dict(dict) = value else {
        panic!("not a dict")
    };
    assert_eq!(dict.borrow()[0].1.as_int(), Some(7));
}

#[test]
fn truncated_and_unknown_input_fail_with_the_position() {
    let err = read(&DICT_P2[..20], 0).unwrap_err().to_string();
    assert!(err.contains("ends early"), "{err}");
    let err = read(b"\x80\x02\xff.", 0).unwrap_err().to_string();
    assert!(
        err.contains("0xff at byte 2") && err.contains("unsupported"),
        "{err}"
    );
    let err = read(b"\x80\x02h\x05.", 0).unwrap_err().to_string();
    assert!(err.contains("memo entry 5"), "{err}");
    let err = read(b"\x80\x02a.", 0).unwrap_err().to_string();
    assert!(err.contains("underflow"), "{err}");
}

/// Fuzzing found containers made to hold themselves through the memo (a dict set as its own
/// key and value): reference counting never frees them. Every such cycle is refused, also
/// one through another container; sharing without a cycle still reads.
#[test]
fn containers_that_would_hold_themselves_are_refused() {
    let cycles: [&[u8]; 4] = [
        b"}\x94h\x00h\x00s.",            // d[d] = d
        b"]\x94h\x00a.",                 // l.append(l)
        b"]\x94]\x94h\x00ah\x00h\x01a.", // b.append(a); a.append(b)
        b"}\x94(h\x00h\x00u.",           // d.update({d: d})
    ];
    for pickle in cycles {
        let err = read(pickle, 0).unwrap_err().to_string();
        assert!(err.contains("reference cycle"), "{pickle:?}: {err}");
    }
    // The same list twice in another one is sharing, not a cycle.
    let (value, _) = read(b"]\x94]h\x00ah\x00a.", 0).unwrap();
    let Value::List(outer) = value else {
        panic!("a list")
    };
    assert_eq!(outer.borrow().len(), 2);
}
