//! Discover (GET with Accept: application/link-format): the object, instances and resources
//! under a path, with `ver` on objects and `dim` on multiple-instance resources.

use std::fmt::Write as _;

use coap_lite::{Packet, ResponseType};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;

use super::handle::Failure;
use super::message;
use crate::model::{Instance, ObjectTree, Resource, ResourceValue};

pub(super) fn discover(tree: &ObjectTree, path: &Lwm2mPath) -> Result<Packet, Failure> {
    if path.resource_instance.is_some() {
        return Err(ResponseType::BadRequest);
    }
    let object = tree.object(path.object).ok_or(ResponseType::NotFound)?;
    let base = match &path.prefix {
        Some(prefix) => format!("/{prefix}/{}", path.object),
        None => format!("/{}", path.object),
    };
    let mut links = Links::default();
    match (path.instance, path.resource) {
        (None, _) => {
            links.push(&base, object.version.map(|v| format!("ver={v}")));
            for (id, instance) in &object.instances {
                links.push_instance(&format!("{base}/{id}"), instance);
            }
        }
        (Some(id), None) => {
            let instance = object.instances.get(&id).ok_or(ResponseType::NotFound)?;
            links.push_instance(&format!("{base}/{id}"), instance);
        }
        (Some(id), Some(resource_id)) => {
            let resource = object
                .instances
                .get(&id)
                .and_then(|instance| instance.get(&resource_id))
                .ok_or(ResponseType::NotFound)?;
            links.push_resource(&format!("{base}/{id}/{resource_id}"), resource);
        }
    }
    Ok(message::content(
        ContentFormat::LinkFormat,
        links.text.into_bytes(),
    ))
}

#[derive(Default)]
struct Links {
    text: String,
}

impl Links {
    fn push(&mut self, target: &str, attribute: Option<String>) {
        if !self.text.is_empty() {
            self.text.push(',');
        }
        let _ = write!(self.text, "<{target}>");
        if let Some(attribute) = attribute {
            let _ = write!(self.text, ";{attribute}");
        }
    }

    fn push_instance(&mut self, target: &str, instance: &Instance) {
        self.push(target, None);
        for (id, resource) in instance {
            self.push_resource(&format!("{target}/{id}"), resource);
        }
    }

    fn push_resource(&mut self, target: &str, resource: &Resource) {
        let dim = match &resource.value {
            ResourceValue::Multiple(values) => Some(format!("dim={}", values.len())),
            _ => None,
        };
        self.push(target, dim);
    }
}
