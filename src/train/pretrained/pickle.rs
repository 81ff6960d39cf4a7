//! A small Python pickle reader: just enough of protocols 2-4 for PyTorch checkpoints.
//!
//! No maintained Rust pickle crate handles persistent ids (how torch.save refers to tensor
//! storages), so this reads the opcodes torch.save emits into a [`Value`] tree and leaves the
//! meaning of classes and persistent ids to the caller. Nothing is executed: a class reference is
//! only recorded ([`Value::Global`]) and calling it gives an [`Value::Object`] that remembers the
//! call, except `collections.OrderedDict`, which becomes a plain dict so items can be added.
//!
//! Lists, dicts and objects are shared (`Rc<RefCell<..>>`), as in Python: a memoised container
//! that is filled later is seen filled when it is fetched from the memo again. A container that
//! would come to hold itself (directly or through others) is refused: reference counting would
//! never free such a cycle, and checkpoints have none (fuzzing found the leak).

use anyhow::{anyhow, bail, ensure, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A list that every reference to it sees, as in Python.
pub type SharedList = Rc<RefCell<Vec<Value>>>;
/// A dict (insertion-ordered pairs) that every reference to it sees.
pub type SharedDict = Rc<RefCell<Vec<(Value, Value)>>>;

/// A value read from a pickle.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    /// Every pickle integer; i128 covers the 10-byte magic number of legacy torch files.
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(SharedList),
    /// Insertion-ordered key/value pairs (pickle dicts may have unhashable-in-Rust keys).
    Dict(SharedDict),
    /// A class or function reference (`module.name`), never resolved.
    Global {
        module: String,
        name: String,
    },
    /// The result of calling a global (REDUCE, NEWOBJ), plus any BUILD state.
    Object(Rc<RefCell<Object>>),
    /// A persistent id, left for the caller to interpret.
    Persistent(Box<Value>),
}

/// A recorded call `callable(*args)`, with the state BUILD gave it.
#[derive(Debug, Clone)]
pub struct Object {
    pub callable: Value,
    pub args: Vec<Value>,
    pub state: Option<Value>,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i128),
            _ => None,
        }
    }

    /// Whether this is the global `module.name`.
    pub fn is_global(&self, module: &str, name: &str) -> bool {
        matches!(self, Value::Global { module: m, name: n } if m == module && n == name)
    }

    /// A short description for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global { .. } => "class reference",
            Value::Object(_) => "object",
            Value::Persistent(_) => "persistent id",
        }
    }
}

/// Reads one pickle starting at `bytes[start]`; returns the value and the offset just past STOP.
pub fn read(bytes: &[u8], start: usize) -> Result<(Value, usize)> {
    let mut machine = Machine {
        input: bytes,
        pos: start,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let value = machine.run()?;
    Ok((value, machine.pos))
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack heights at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Machine<'_> {
    fn run(&mut self) -> Result<Value> {
        loop {
            let at = self.pos;
            let opcode = self.take(1)?[0];
            if opcode == b'.' {
                ensure!(
                    self.marks.is_empty(),
                    "pickle ends inside a MARK at byte {at}"
                );
                return self
                    .stack
                    .pop()
                    .ok_or_else(|| anyhow!("pickle ends with an empty stack at byte {at}"));
            }
            self.step(opcode)
                .map_err(|e| anyhow!("pickle opcode 0x{opcode:02x} at byte {at}: {e}"))?;
        }
    }

    fn step(&mut self, opcode: u8) -> Result<()> {
        match opcode {
            0x80 => {
                let protocol = self.take(1)?[0];
                ensure!(protocol <= 5, "unsupported pickle protocol {protocol}");
            }
            0x95 => {
                self.take(8)?; // FRAME: a length hint only
            }
            b'(' => self.marks.push(self.stack.len()),
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'J' => {
                let v = i32::from_le_bytes(self.array()?);
                self.stack.push(Value::Int(v.into()));
            }
            b'K' => {
                let v = self.take(1)?[0];
                self.stack.push(Value::Int(v.into()));
            }
            b'M' => {
                let v = u16::from_le_bytes(self.array()?);
                self.stack.push(Value::Int(v.into()));
            }
            0x8a => {
                let n = self.take(1)?[0] as usize;
                let v = long_from_le(self.take(n)?)?;
                self.stack.push(Value::Int(v));
            }
            b'G' => {
                let v = f64::from_be_bytes(self.array()?);
                self.stack.push(Value::Float(v));
            }
            b'X' => {
                let n = u32::from_le_bytes(self.array()?) as usize;
                self.push_str(n)?;
            }
            0x8c => {
                let n = self.take(1)?[0] as usize;
                self.push_str(n)?;
            }
            0x8d => {
                let n = usize::try_from(u64::from_le_bytes(self.array()?))?;
                self.push_str(n)?;
            }
            b'U' | b'C' => {
                let n = self.take(1)?[0] as usize;
                let v = self.take(n)?.to_vec();
                self.stack.push(Value::Bytes(v));
            }
            b'T' | b'B' => {
                let n = u32::from_le_bytes(self.array()?) as usize;
                let v = self.take(n)?.to_vec();
                self.stack.push(Value::Bytes(v));
            }
            b')' => self.stack.push(Value::Tuple(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (opcode - 0x84) as usize;
                let items = self.pop_n(n)?;
                self.stack.push(Value::Tuple(items));
            }
            b']' => self.stack.push(Value::List(Rc::default())),
            b'l' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::List(Rc::new(RefCell::new(items))));
            }
            b'a' => {
                let item = self.pop()?;
                let list = self.list_top()?;
                refuse_cycle(Rc::as_ptr(&list).cast(), [&item])?;
                list.borrow_mut().push(item);
            }
            b'e' => {
                let items = self.pop_mark()?;
                let list = self.list_top()?;
                refuse_cycle(Rc::as_ptr(&list).cast(), &items)?;
                list.borrow_mut().extend(items);
            }
            b'}' => self.stack.push(Value::Dict(Rc::default())),
            b'd' => {
                let items = pairs(self.pop_mark()?)?;
                self.stack.push(Value::Dict(Rc::new(RefCell::new(items))));
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                let dict = self.dict_top()?;
                refuse_cycle(Rc::as_ptr(&dict).cast(), [&key, &value])?;
                dict.borrow_mut().push((key, value));
            }
            b'u' => {
                let items = pairs(self.pop_mark()?)?;
                let dict = self.dict_top()?;
                refuse_cycle(
                    Rc::as_ptr(&dict).cast(),
                    items.iter().flat_map(|(k, v)| [k, v]),
                )?;
                dict.borrow_mut().extend(items);
            }
            b'q' => {
                let index = self.take(1)?[0].into();
                self.memoise(index)?;
            }
            b'r' => {
                let index = u32::from_le_bytes(self.array()?);
                self.memoise(index)?;
            }
            0x94 => {
                let index = u32::try_from(self.memo.len())?;
                self.memoise(index)?;
            }
            b'h' => {
                let index = self.take(1)?[0].into();
                self.recall(index)?;
            }
            b'j' => {
                let index = u32::from_le_bytes(self.array()?);
                self.recall(index)?;
            }
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.stack.push(Value::Global { module, name });
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Value::Str(module), Value::Str(name)) = (module, name) else {
                    bail!("STACK_GLOBAL needs two strings");
                };
                self.stack.push(Value::Global { module, name });
            }
            b'R' | 0x81 => {
                let args = match self.pop()? {
                    Value::Tuple(items) => items,
                    other => bail!("call arguments must be a tuple, not a {}", other.kind()),
                };
                let callable = self.pop()?;
                self.stack.push(call(callable, args));
            }
            b'b' => {
                let state = self.pop()?;
                self.build_top(state)?;
            }
            b'Q' => {
                let pid = self.pop()?;
                self.stack.push(Value::Persistent(Box::new(pid)));
            }
            _ => bail!("unsupported opcode"),
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| anyhow!("the data ends early (need {n} bytes at byte {})", self.pos))?;
        let slice = &self.input[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.input[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| anyhow!("unterminated GLOBAL name"))?;
        let text = std::str::from_utf8(&rest[..n])?.to_string();
        self.pos += n + 1;
        Ok(text)
    }

    fn push_str(&mut self, n: usize) -> Result<()> {
        let text = std::str::from_utf8(self.take(n)?)?.to_string();
        self.stack.push(Value::Str(text));
        Ok(())
    }

    fn pop(&mut self) -> Result<Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        ensure!(self.stack.len() > floor, "stack underflow");
        Ok(self.stack.pop().expect("checked above"))
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<Value>> {
        let floor = self.marks.last().copied().unwrap_or(0);
        ensure!(self.stack.len() >= floor + n, "stack underflow");
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| anyhow!("no MARK to pop to"))?;
        Ok(self.stack.split_off(mark))
    }

    fn top(&self) -> Result<&Value> {
        self.stack.last().ok_or_else(|| anyhow!("empty stack"))
    }

    fn list_top(&self) -> Result<SharedList> {
        match self.top()? {
            Value::List(list) => Ok(list.clone()),
            other => bail!("expected a list, found a {}", other.kind()),
        }
    }

    fn dict_top(&self) -> Result<SharedDict> {
        match self.top()? {
            Value::Dict(dict) => Ok(dict.clone()),
            other => bail!("expected a dict, found a {}", other.kind()),
        }
    }

    /// BUILD: objects keep the state; a dict (an OrderedDict with attributes, as torch's
    /// state dicts carry `_metadata`) keeps its items and drops the attributes.
    fn build_top(&mut self, state: Value) -> Result<()> {
        match self.top()? {
            Value::Object(object) => {
                refuse_cycle(Rc::as_ptr(object).cast(), [&state])?;
                object.borrow_mut().state = Some(state)
            }
            Value::Dict(_) => {}
            other => bail!("cannot BUILD a {}", other.kind()),
        }
        Ok(())
    }

    fn memoise(&mut self, index: u32) -> Result<()> {
        let value = self.top()?.clone();
        self.memo.insert(index, value);
        Ok(())
    }

    fn recall(&mut self, index: u32) -> Result<()> {
        let value = self
            .memo
            .get(&index)
            .cloned()
            .ok_or_else(|| anyhow!("memo entry {index} was never stored"))?;
        self.stack.push(value);
        Ok(())
    }
}

/// Refuses to put `items` into the container at `container` when one of them is that container
/// or holds it, however deeply: the cycle would never be freed. Each container is looked into
/// once, so this costs at most the size of what was read so far.
fn refuse_cycle<'v>(
    container: *const (),
    items: impl IntoIterator<Item = &'v Value>,
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut pending: Vec<Value> = items.into_iter().cloned().collect();
    while let Some(value) = pending.pop() {
        match &value {
            Value::Tuple(items) => pending.extend(items.iter().cloned()),
            Value::Persistent(inner) => pending.push((**inner).clone()),
            _ => {}
        }
        let Some(shared) = shared_ptr(&value) else {
            continue;
        };
        ensure!(
            shared != container,
            "a container would hold itself (a reference cycle), which checkpoints never have"
        );
        if !seen.insert(shared) {
            continue;
        }
        match &value {
            Value::List(list) => pending.extend(list.borrow().iter().cloned()),
            Value::Dict(dict) => {
                for (key, item) in dict.borrow().iter() {
                    pending.extend([key.clone(), item.clone()]);
                }
            }
            Value::Object(object) => {
                let object = object.borrow();
                pending.push(object.callable.clone());
                pending.extend(object.args.iter().cloned());
                pending.extend(object.state.clone());
            }
            _ => {}
        }
    }
    Ok(())
}

/// The address of a shared container (list, dict, object), which identifies it.
fn shared_ptr(value: &Value) -> Option<*const ()> {
    match value {
        Value::List(list) => Some(Rc::as_ptr(list).cast()),
        Value::Dict(dict) => Some(Rc::as_ptr(dict).cast()),
        Value::Object(object) => Some(Rc::as_ptr(object).cast()),
        _ => None,
    }
}

/// Calling `collections.OrderedDict()` gives a dict that later SETITEMS fill; anything else is
/// recorded, not run.
fn call(callable: Value, args: Vec<Value>) -> Value {
    if callable.is_global("collections", "OrderedDict") && args.is_empty() {
        return Value::Dict(Rc::default());
    }
    Value::Object(Rc::new(RefCell::new(Object {
        callable,
        args,
        state: None,
    })))
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>> {
    ensure!(items.len() % 2 == 0, "odd number of dict items");
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// Two's-complement little-endian integer of up to 16 bytes (LONG1).
fn long_from_le(bytes: &[u8]) -> Result<i128> {
    ensure!(
        bytes.len() <= 16,
        "integer of {} bytes is too large",
        bytes.len()
    );
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut buf = [if negative { 0xff } else { 0 }; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    Ok(i128::from_le_bytes(buf))
}

#[cfg(test)]
mod tests;
