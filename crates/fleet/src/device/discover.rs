//! Discover (GET with Accept: application/link-format): the object, instances and resources
//! under a path, with `ver` on objects, `dim` on multiple-instance resources and the
//! notification attributes attached at each level (`</3303/0/5700>;pmax=60;gt=25`).

use std::fmt::Write as _;

use coap_lite::{Packet, ResponseType};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;

use super::handle::Failure;
use super::message;
use crate::model::{Instance, Node, Resource, ResourceValue};

pub(super) fn discover(node: &Node, path: &Lwm2mPath) -> Result<Packet, Failure> {
    if path.resource_instance.is_some() {
        return Err(ResponseType::BadRequest);
    }
    let object = node
        .tree
        .object(path.object)
        .ok_or(ResponseType::NotFound)?;
    let base = match &path.prefix {
        Some(prefix) => format!("/{prefix}/{}", path.object),
        None => format!("/{}", path.object),
    };
    let mut links = Links {
        text: String::new(),
        node,
        object: path.object,
    };
    match (path.instance, path.resource) {
        (None, _) => {
            let mut params = object.version.map(|v| format!("ver={v}"));
            let attached = node
                .attached_attributes(&Lwm2mPath::object(path.object))
                .link_params();
            if !attached.is_empty() {
                params = Some(match params {
                    Some(version) => format!("{version};{attached}"),
                    None => attached,
                });
            }
            links.push(&base, params);
            for (id, instance) in &object.instances {
                links.push_instance(&base, *id, instance);
            }
        }
        (Some(id), None) => {
            let instance = object.instances.get(&id).ok_or(ResponseType::NotFound)?;
            links.push_instance(&base, id, instance);
        }
        (Some(id), Some(resource_id)) => {
            let resource = object
                .instances
                .get(&id)
                .and_then(|instance| instance.get(&resource_id))
                .ok_or(ResponseType::NotFound)?;
            links.push_resource(&base, id, resource_id, resource);
        }
    }
    Ok(message::content(
        ContentFormat::LinkFormat,
        links.text.into_bytes(),
    ))
}

struct Links<'a> {
    text: String,
    node: &'a Node,
    object: u16,
}

impl Links<'_> {
    fn push(&mut self, target: &str, params: Option<String>) {
        if !self.text.is_empty() {
            self.text.push(',');
        }
        let _ = write!(self.text, "<{target}>");
        if let Some(params) = params.filter(|p| !p.is_empty()) {
            let _ = write!(self.text, ";{params}");
        }
    }

    fn push_instance(&mut self, base: &str, id: u16, instance: &Instance) {
        let attached = self
            .node
            .attached_attributes(&Lwm2mPath::instance(self.object, id))
            .link_params();
        self.push(&format!("{base}/{id}"), Some(attached));
        for (resource_id, resource) in instance {
            self.push_resource(base, id, *resource_id, resource);
        }
    }

    fn push_resource(&mut self, base: &str, instance: u16, id: u16, resource: &Resource) {
        let mut params = Vec::new();
        if let ResourceValue::Multiple(values) = &resource.value {
            params.push(format!("dim={}", values.len()));
        }
        let attached = self
            .node
            .attached_attributes(&Lwm2mPath::resource(self.object, instance, id))
            .link_params();
        if !attached.is_empty() {
            params.push(attached);
        }
        self.push(&format!("{base}/{instance}/{id}"), Some(params.join(";")));
    }
}
