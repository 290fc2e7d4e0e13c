//! The type registry behind `google.protobuf.Any` in JSON: an Any holds
//! a message's bytes and its type's name, and its JSON form is that
//! message's JSON, so writing or reading one needs the type.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A message type an Any can hold: its full name and how to turn its bytes
/// into JSON and back. Generated code lists every message of a package
/// (`JSON_TYPES`) and registers the list.
#[derive(Clone, Copy)]
pub struct AnyType {
    name: &'static str,
    to_json: fn(&[u8]) -> Result<serde_json::Value, String>,
    from_json: fn(serde_json::Value) -> Result<Vec<u8>, String>,
}

impl std::fmt::Debug for AnyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AnyType").field(&self.name).finish()
    }
}

impl AnyType {
    /// The entry for message type `M`, whose full protobuf name is `name`.
    pub const fn of<M>(name: &'static str) -> AnyType
    where
        M: prost::Message + Default + Serialize + DeserializeOwned,
    {
        AnyType { name, to_json: to_json::<M>, from_json: from_json::<M> }
    }

    /// The full protobuf name (`bookstore.v1.Book`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The JSON of the message `bytes` encode.
    pub(crate) fn json_of(self, bytes: &[u8]) -> Result<serde_json::Value, String> {
        (self.to_json)(bytes)
    }

    /// The bytes of the message `json` holds.
    pub(crate) fn bytes_of(self, json: serde_json::Value) -> Result<Vec<u8>, String> {
        (self.from_json)(json)
    }
}

// Both go through JSON text, with the (de)serializer servers already use for
// every message: a `serde_json::Value` (de)serializer would be compiled once
// more for every message of every schema, only for Any.

fn to_json<M: prost::Message + Default + Serialize>(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let message = M::decode(bytes).map_err(|e| format!("its bytes are not a valid message of its type: {e}"))?;
    let text = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
    serde_json::from_slice(&text).map_err(|e| e.to_string())
}

fn from_json<M: prost::Message + DeserializeOwned>(json: serde_json::Value) -> Result<Vec<u8>, String> {
    let text = serde_json::to_vec(&json).map_err(|e| e.to_string())?;
    let message: M = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    Ok(message.encode_to_vec())
}

type Registry = HashMap<&'static str, AnyType>;

/// The registered types by name, and the lists registered (by address).
fn registry() -> &'static RwLock<(Registry, Vec<usize>)> {
    static REGISTRY: OnceLock<RwLock<(Registry, Vec<usize>)>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new((HashMap::new(), Vec::new())))
}

/// Makes the message types in `types` known to `google.protobuf.Any` in JSON,
/// in this process. Generated services and clients register their schema's
/// types; call this for a message type an Any may hold that is no part of
/// the schema. Registering a list again costs one lookup.
pub fn register(types: &'static [AnyType]) {
    let key = types.as_ptr() as usize;
    let lock = registry();
    if lock.read().is_ok_and(|r| r.1.contains(&key)) {
        return;
    }
    let mut r = lock.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !r.1.contains(&key) {
        r.1.push(key);
        for t in types {
            r.0.insert(t.name, *t);
        }
    }
}

/// The registered type called `name` (the well-known types are looked up
/// before this, in `wkt`).
pub(crate) fn lookup(name: &str) -> Option<AnyType> {
    let r = registry().read().unwrap_or_else(|poisoned| poisoned.into_inner());
    r.0.get(name).copied()
}

/// Descriptor pools whose messages an Any may hold, for servers whose types
/// are not compiled in (the gateway's, read at start-up).
fn pools() -> &'static RwLock<Vec<prost_reflect::DescriptorPool>> {
    static POOLS: OnceLock<RwLock<Vec<prost_reflect::DescriptorPool>>> = OnceLock::new();
    POOLS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Makes every message of `pool` known to `google.protobuf.Any` in JSON, in
/// this process, converted through its descriptor (after the types
/// [`register`] makes known).
pub fn register_descriptors(pool: &prost_reflect::DescriptorPool) {
    let mut pools = pools().write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !pools.contains(pool) {
        pools.push(pool.clone());
    }
}

/// How to convert a type an Any holds: its registered functions, or its descriptor.
pub(crate) enum Converter {
    Typed(AnyType),
    Described(prost_reflect::MessageDescriptor),
}

impl Converter {
    /// The converter for `name`: `typed` (the well-known types, then the
    /// registered ones), else a registered pool's descriptor.
    pub(crate) fn find(name: &str, typed: Option<AnyType>) -> Option<Converter> {
        if let Some(ty) = typed.or_else(|| lookup(name)) {
            return Some(Converter::Typed(ty));
        }
        let pools = pools().read().unwrap_or_else(|poisoned| poisoned.into_inner());
        pools.iter().find_map(|p| p.get_message_by_name(name)).map(Converter::Described)
    }

    pub(crate) fn json_of(&self, bytes: &[u8]) -> Result<serde_json::Value, String> {
        match self {
            Converter::Typed(ty) => ty.json_of(bytes),
            Converter::Described(desc) => {
                let message = prost_reflect::DynamicMessage::decode(desc.clone(), bytes)
                    .map_err(|e| format!("its bytes are not a valid message of its type: {e}"))?;
                message
                    .serialize_with_options(serde_json::value::Serializer, &prost_reflect::SerializeOptions::new())
                    .map_err(|e| e.to_string())
            }
        }
    }

    pub(crate) fn bytes_of(&self, json: serde_json::Value) -> Result<Vec<u8>, String> {
        match self {
            Converter::Typed(ty) => ty.bytes_of(json),
            Converter::Described(desc) => prost_reflect::DynamicMessage::deserialize(desc.clone(), json)
                .map(|m| prost::Message::encode_to_vec(&m))
                .map_err(|e| e.to_string()),
        }
    }
}
