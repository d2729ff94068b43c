//! An LwM2M object tree: objects, instances, resources and resource instances, with the
//! operations each resource allows. Pure data, no I/O.

use std::collections::BTreeMap;

use fleetbench_lwm2m::value::{ResourceType, Value};

/// What the server may do with a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operations {
    /// Read only.
    Read,
    /// Write only.
    Write,
    /// Read and write.
    ReadWrite,
    /// Execute only.
    Execute,
}

impl Operations {
    /// Whether Read is allowed.
    pub fn readable(self) -> bool {
        matches!(self, Self::Read | Self::ReadWrite)
    }

    /// Whether Write is allowed.
    pub fn writable(self) -> bool {
        matches!(self, Self::Write | Self::ReadWrite)
    }

    /// Whether Execute is allowed.
    pub fn executable(self) -> bool {
        matches!(self, Self::Execute)
    }
}

/// The value(s) a resource holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceValue {
    /// A single-instance resource.
    Single(Value),
    /// A multiple-instance resource: resource instance id → value.
    Multiple(BTreeMap<u16, Value>),
    /// An executable resource: no value.
    Executable,
}

/// One resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Declared data type.
    pub kind: ResourceType,
    /// Allowed operations.
    pub operations: Operations,
    /// Current value(s).
    pub value: ResourceValue,
}

impl Resource {
    /// A single-instance resource.
    pub fn single(operations: Operations, value: Value) -> Self {
        Self {
            kind: value_type(&value),
            operations,
            value: ResourceValue::Single(value),
        }
    }

    /// A multiple-instance resource of `kind`.
    pub fn multiple(
        kind: ResourceType,
        operations: Operations,
        values: impl IntoIterator<Item = (u16, Value)>,
    ) -> Self {
        Self {
            kind,
            operations,
            value: ResourceValue::Multiple(values.into_iter().collect()),
        }
    }

    /// An executable resource.
    pub fn executable() -> Self {
        Self {
            kind: ResourceType::None,
            operations: Operations::Execute,
            value: ResourceValue::Executable,
        }
    }

    /// Whether the resource has multiple instances.
    pub fn is_multiple(&self) -> bool {
        matches!(self.value, ResourceValue::Multiple(_))
    }
}

/// The resource type a value naturally has.
pub fn value_type(value: &Value) -> ResourceType {
    match value {
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

/// One object instance: resource id → resource.
pub type Instance = BTreeMap<u16, Resource>;

/// One object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Object version advertised in link lists (`ver=`), when not 1.0.
    pub version: Option<&'static str>,
    /// Instance id → instance.
    pub instances: BTreeMap<u16, Instance>,
}

/// A device's objects: object id → object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectTree {
    objects: BTreeMap<u16, Object>,
}

impl ObjectTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) object `id`.
    pub fn insert_object(&mut self, id: u16, object: Object) {
        self.objects.insert(id, object);
    }

    /// The objects in id order.
    pub fn objects(&self) -> impl Iterator<Item = (u16, &Object)> {
        self.objects.iter().map(|(id, object)| (*id, object))
    }

    /// Object `id`.
    pub fn object(&self, id: u16) -> Option<&Object> {
        self.objects.get(&id)
    }

    /// Instance `instance` of object `object`.
    pub fn instance(&self, object: u16, instance: u16) -> Option<&Instance> {
        self.objects.get(&object)?.instances.get(&instance)
    }

    /// A resource.
    pub fn resource(&self, object: u16, instance: u16, resource: u16) -> Option<&Resource> {
        self.instance(object, instance)?.get(&resource)
    }

    /// Object `id`, mutably.
    pub fn object_mut(&mut self, id: u16) -> Option<&mut Object> {
        self.objects.get_mut(&id)
    }

    /// Instance `instance` of object `object`, mutably.
    pub fn instance_mut(&mut self, object: u16, instance: u16) -> Option<&mut Instance> {
        self.objects.get_mut(&object)?.instances.get_mut(&instance)
    }

    /// A resource, mutably.
    pub fn resource_mut(
        &mut self,
        object: u16,
        instance: u16,
        resource: u16,
    ) -> Option<&mut Resource> {
        self.objects
            .get_mut(&object)?
            .instances
            .get_mut(&instance)?
            .get_mut(&resource)
    }

    /// Sets a single-instance resource's value (no type or permission check). Returns whether
    /// the resource exists.
    pub fn set(&mut self, object: u16, instance: u16, resource: u16, value: Value) -> bool {
        match self.resource_mut(object, instance, resource) {
            Some(res) => {
                res.value = ResourceValue::Single(value);
                true
            }
            None => false,
        }
    }

    /// A single-instance resource's value.
    pub fn get(&self, object: u16, instance: u16, resource: u16) -> Option<&Value> {
        match &self.resource(object, instance, resource)?.value {
            ResourceValue::Single(value) => Some(value),
            _ => None,
        }
    }
}
