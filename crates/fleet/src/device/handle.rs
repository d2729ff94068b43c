//! Request dispatch: method + path + options → Read, Discover, Write, Write-Attributes or
//! Execute, with LwM2M error codes for everything else.

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use tokio::time::Instant;

use super::blockwise::{self, Block1Step};
use super::message::{self, FormatOption};
use super::{Device, DeviceAction, Reply, discover, read, write};
use crate::model::objects;

/// A request failure: the response code to send.
pub(super) type Failure = ResponseType;

pub(super) fn handle(device: &mut Device, now: Instant, request: &Packet) -> Reply {
    let failed = |code| Reply {
        response: message::empty(code),
        action: None,
    };
    let (whole, echo) = match device.uploads.accept(request) {
        Block1Step::Whole => (None, None),
        Block1Step::Continue(response) => {
            return Reply {
                response,
                action: None,
            };
        }
        Block1Step::Fail(code) => return failed(code),
        Block1Step::Complete { body, option } => {
            let mut whole = request.clone();
            whole.clear_option(CoapOption::Block1);
            whole.payload = body;
            (Some(whole), Some(option))
        }
    };
    let request = whole.as_ref().unwrap_or(request);
    let mut reply = match dispatch(device, now, request) {
        Ok(reply) => reply,
        Err(code) => failed(code),
    };
    reply.response = blockwise::slice_response(request, reply.response);
    if let Some(option) = echo {
        reply
            .response
            .add_option(CoapOption::Block1, option.encode());
    }
    reply
}

fn dispatch(device: &mut Device, now: Instant, request: &Packet) -> Result<Reply, Failure> {
    let MessageClass::Request(method) = request.header.code else {
        return Err(ResponseType::BadRequest);
    };
    let segments = message::uri_path(request).ok_or(ResponseType::BadRequest)?;
    let path = Lwm2mPath::from_segments(&segments).map_err(|_| ResponseType::NotFound)?;
    let (node, sub_device) = device
        .node_mut(path.prefix.as_deref())
        .ok_or(ResponseType::NotFound)?;
    node.refresh(now);
    read::check_exists(&node.tree, &path)?;
    let plain = |response| Reply {
        response,
        action: None,
    };
    match method {
        RequestType::Get => {
            let accept = message::format_option(request, CoapOption::Accept);
            match accept {
                FormatOption::Known(ContentFormat::LinkFormat) => {
                    discover::discover(&node.tree, &path).map(plain)
                }
                FormatOption::Unknown(_) => Err(ResponseType::NotAcceptable),
                FormatOption::Known(format) => {
                    read::read(&node.tree, &path, Some(format)).map(plain)
                }
                FormatOption::Absent => read::read(&node.tree, &path, None).map(plain),
            }
        }
        RequestType::Put => {
            let query = message::uri_query(request).ok_or(ResponseType::BadRequest)?;
            if !query.is_empty() {
                match write::write_attributes(&query)? {
                    write::Pmax::Unchanged => {}
                    write::Pmax::Cleared => node.set_pmax(&path, None),
                    write::Pmax::Set(seconds) => node.set_pmax(&path, Some(seconds)),
                }
                return Ok(plain(message::empty(ResponseType::Changed)));
            }
            if path.instance.is_none() {
                return Err(ResponseType::MethodNotAllowed);
            }
            let action = write::write(node, now, &path, request, write::Mode::Replace)?;
            let action = action.filter(|_| sub_device.is_none());
            Ok(Reply {
                response: message::empty(ResponseType::Changed),
                action,
            })
        }
        RequestType::Post => match (path.instance, path.resource, path.resource_instance) {
            (None, _, _) => Err(ResponseType::MethodNotAllowed),
            (Some(_), None, _) => {
                let action = write::write(node, now, &path, request, write::Mode::Update)?;
                let action = action.filter(|_| sub_device.is_none());
                Ok(Reply {
                    response: message::empty(ResponseType::Changed),
                    action,
                })
            }
            (Some(instance), Some(resource), None) => {
                execute(node, &path, instance, resource, sub_device)
            }
            (Some(_), Some(_), Some(_)) => Err(ResponseType::MethodNotAllowed),
        },
        RequestType::Delete
        | RequestType::Fetch
        | RequestType::Patch
        | RequestType::IPatch
        | RequestType::UnKnown => Err(ResponseType::MethodNotAllowed),
    }
}

fn execute(
    node: &mut crate::model::Node,
    path: &Lwm2mPath,
    instance: u16,
    resource: u16,
    sub_device: Option<usize>,
) -> Result<Reply, Failure> {
    let res = node
        .tree
        .resource(path.object, instance, resource)
        .ok_or(ResponseType::NotFound)?;
    if !res.operations.executable() {
        return Err(ResponseType::MethodNotAllowed);
    }
    let action = match (sub_device, path.object, resource) {
        (None, objects::DEVICE, objects::DEVICE_REBOOT) => Some(DeviceAction::Reboot),
        (None, objects::SERVER, objects::SERVER_UPDATE_TRIGGER) => {
            Some(DeviceAction::RegistrationUpdate)
        }
        (Some(index), objects::DEVICE, objects::DEVICE_REBOOT) => {
            Some(DeviceAction::SubDeviceReboot(index))
        }
        (_, objects::FIRMWARE, objects::FIRMWARE_UPDATE) => {
            if !node.start_firmware_update() {
                return Err(ResponseType::MethodNotAllowed);
            }
            match sub_device {
                // The gateway reboots into the new firmware.
                None => Some(DeviceAction::FirmwareUpdate),
                // A sub-device is updated at once.
                Some(_) => {
                    node.finish_firmware_update();
                    None
                }
            }
        }
        _ => None,
    };
    Ok(Reply {
        response: message::empty(ResponseType::Changed),
        action,
    })
}
