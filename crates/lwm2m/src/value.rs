//! LwM2M resource values and resource data types (OMA LwM2M 1.1 Core, Appendix C).

/// The data type of a resource, as declared by its object definition.
///
/// Codecs whose wire format carries no type (TLV, text/plain) need this to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// Signed integer (up to 64 bits).
    Integer,
    /// Unsigned integer (up to 64 bits).
    UnsignedInteger,
    /// IEEE 754 float (32 or 64 bits on the wire).
    Float,
    /// Boolean.
    Boolean,
    /// UTF-8 string.
    String,
    /// Opaque bytes.
    Opaque,
    /// Unix time in seconds.
    Time,
    /// Object link `object:instance`.
    ObjectLink,
    /// CoRE link list (RFC 6690) as text.
    CoreLink,
    /// Executable resource: carries no value.
    None,
}

/// A single resource (or resource instance) value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Signed integer.
    Integer(i64),
    /// Unsigned integer.
    UnsignedInteger(u64),
    /// Float.
    Float(f64),
    /// Boolean.
    Boolean(bool),
    /// UTF-8 string.
    String(String),
    /// Opaque bytes.
    Opaque(Vec<u8>),
    /// Unix time in seconds.
    Time(i64),
    /// Object link.
    ObjectLink {
        /// Object id.
        object: u16,
        /// Object instance id.
        instance: u16,
    },
    /// CoRE link list, as text.
    CoreLink(String),
}

impl Value {
    /// The resource type this value naturally has.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Value::Integer(_) => ResourceType::Integer,
            Value::UnsignedInteger(_) => ResourceType::UnsignedInteger,
            Value::Float(_) => ResourceType::Float,
            Value::Boolean(_) => ResourceType::Boolean,
            Value::String(_) => ResourceType::String,
            Value::Opaque(_) => ResourceType::Opaque,
            Value::Time(_) => ResourceType::Time,
            Value::ObjectLink { .. } => ResourceType::ObjectLink,
            Value::CoreLink(_) => ResourceType::CoreLink,
        }
    }
}
