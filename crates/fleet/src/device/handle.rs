//! Request dispatch: method + path + options → Read, Discover, Write, Write-Attributes,
//! Execute, Create or Delete (LwM2M 1.1 §6.3, in Wakaama's order), Read-Composite (FETCH /)
//! and Write-Composite (iPATCH /), with LwM2M error codes for everything else.

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use tokio::time::Instant;

use super::blockwise::{self, Block1Step};
use super::message::{self, FormatOption};
use super::{Device, DeviceAction, Reply, composite, create, discover, execute, read, write};
use crate::model::firmware::{FirmwareState, result};
use crate::model::{attributes, objects};

/// A request failure: the response code to send.
pub(super) type Failure = ResponseType;

pub(super) fn handle(device: &mut Device, now: Instant, request: &Packet) -> Reply {
    let reply = |response| Reply {
        response,
        action: None,
    };
    if let Some(response) = device.bodies.serve(now, request) {
        return reply(response);
    }
    let (whole, echo) = match device.uploads.accept(request) {
        Block1Step::Whole => (None, None),
        Block1Step::Continue { response, first } => {
            if first {
                upload_started(device, request);
            }
            return reply(response);
        }
        Block1Step::Fail(response) => {
            upload_failed(device, request, &response);
            return reply(response);
        }
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
        Err(code) => Reply {
            response: message::empty(code),
            action: None,
        },
    };
    reply.response = blockwise::slice_response(now, &mut device.bodies, request, reply.response);
    if let Some(option) = echo {
        reply
            .response
            .add_option(CoapOption::Block1, option.encode());
    }
    reply
}

/// The first block of a firmware package push puts Object 5 into Downloading.
fn upload_started(device: &mut Device, request: &Packet) {
    let is_put = request.header.code == MessageClass::Request(RequestType::Put);
    let Some(path) = message::uri_path(request).and_then(|s| Lwm2mPath::from_segments(&s).ok())
    else {
        return;
    };
    let package = path.object == objects::FIRMWARE
        && path.instance == Some(0)
        && path.resource == Some(objects::FIRMWARE_PACKAGE);
    if is_put
        && package
        && let Some((node, _)) = device.node_mut(path.prefix.as_deref())
    {
        node.firmware_download_started();
    }
}

/// A broken firmware package push (missing block, too large) ends the download: Idle with
/// Update Result 4 (connection lost), or 2 (not enough flash) after a 4.13.
fn upload_failed(device: &mut Device, request: &Packet, response: &Packet) {
    let Some(path) = message::uri_path(request).and_then(|s| Lwm2mPath::from_segments(&s).ok())
    else {
        return;
    };
    let package = path.object == objects::FIRMWARE
        && path.instance == Some(0)
        && path.resource == Some(objects::FIRMWARE_PACKAGE);
    if package
        && let Some((node, _)) = device.node_mut(path.prefix.as_deref())
        && node.firmware_state() == FirmwareState::Downloading
    {
        let code = match message::response_code(response) {
            Some(ResponseType::RequestEntityTooLarge) => result::NOT_ENOUGH_FLASH,
            _ => result::CONNECTION_LOST,
        };
        node.firmware_download_failed(code);
    }
}

fn plain(response: Packet) -> Reply {
    Reply {
        response,
        action: None,
    }
}

fn dispatch(device: &mut Device, now: Instant, request: &Packet) -> Result<Reply, Failure> {
    let MessageClass::Request(method) = request.header.code else {
        return Err(ResponseType::BadRequest);
    };
    let segments = message::uri_path(request).ok_or(ResponseType::BadRequest)?;
    if segments.is_empty() {
        // The root `/`: only the composite operations address it.
        return match method {
            RequestType::Fetch => composite::read_composite(device, now, request).map(plain),
            RequestType::IPatch => {
                let action = composite::write_composite(device, now, request)?;
                Ok(Reply {
                    response: message::empty(ResponseType::Changed),
                    action,
                })
            }
            _ => Err(ResponseType::NotFound),
        };
    }
    let path = Lwm2mPath::from_segments(&segments).map_err(|_| ResponseType::NotFound)?;
    let (node, sub_device) = device
        .node_mut(path.prefix.as_deref())
        .ok_or(ResponseType::NotFound)?;
    if path.object == objects::SECURITY && node.role().is_client() {
        // Only a bootstrap server may touch the Security object (LwM2M 1.1 Appendix E.1):
        // the object exists, the DM server has no access right.
        return Err(ResponseType::Unauthorized);
    }
    node.refresh(now);
    read::check_exists(&node.tree, &path)?;
    match method {
        RequestType::Get => {
            let accept = message::format_option(request, CoapOption::Accept);
            match accept {
                FormatOption::Known(ContentFormat::LinkFormat) => {
                    discover::discover(node, &path).map(plain)
                }
                FormatOption::Unknown(_) => Err(ResponseType::NotAcceptable),
                FormatOption::Known(format) => read::read(node, &path, Some(format)).map(plain),
                FormatOption::Absent => read::read(node, &path, None).map(plain),
            }
        }
        RequestType::Put => {
            let query = message::uri_query(request).ok_or(ResponseType::BadRequest)?;
            if !query.is_empty() {
                let changes =
                    attributes::parse_query(&query).map_err(|_| ResponseType::BadRequest)?;
                node.write_attributes(&path, &changes)
                    .map_err(|_| ResponseType::BadRequest)?;
                return Ok(plain(message::empty(ResponseType::Changed)));
            }
            if path.instance.is_none() {
                return Err(ResponseType::MethodNotAllowed);
            }
            let written =
                write::write(node, sub_device, now, &path, request, write::Mode::Replace)?;
            let action = finish_write(device, path.prefix.as_deref(), written);
            Ok(Reply {
                response: message::empty(ResponseType::Changed),
                action,
            })
        }
        RequestType::Post => match (path.instance, path.resource, path.resource_instance) {
            (None, _, _) => {
                let (response, created) = create::create(node, now, &path, request)?;
                let action =
                    (created && sub_device.is_none()).then_some(DeviceAction::ObjectsChanged);
                if created && let Some(index) = sub_device {
                    refresh_gateway_entry(device, index);
                }
                Ok(Reply { response, action })
            }
            (Some(_), None, _) => {
                let written =
                    write::write(node, sub_device, now, &path, request, write::Mode::Update)?;
                let action = finish_write(device, path.prefix.as_deref(), written);
                Ok(Reply {
                    response: message::empty(ResponseType::Changed),
                    action,
                })
            }
            (Some(instance), Some(resource), None) => {
                execute::execute(node, sub_device, now, &path, instance, resource)
            }
            (Some(_), Some(_), Some(_)) => Err(ResponseType::MethodNotAllowed),
        },
        RequestType::Delete => match (path.instance, path.resource) {
            (Some(instance), None) => {
                if !node.delete_instance(path.object, instance) {
                    return Err(ResponseType::MethodNotAllowed);
                }
                let action = sub_device.is_none().then_some(DeviceAction::ObjectsChanged);
                if let Some(index) = sub_device {
                    refresh_gateway_entry(device, index);
                }
                Ok(Reply {
                    response: message::empty(ResponseType::Deleted),
                    action,
                })
            }
            _ => Err(ResponseType::MethodNotAllowed),
        },
        RequestType::Fetch | RequestType::Patch | RequestType::IPatch | RequestType::UnKnown => {
            Err(ResponseType::MethodNotAllowed)
        }
    }
}

/// Completes a write that delivered or reset a firmware package: the outcome of a
/// delivered package is drawn now.
pub(super) fn finish_write(
    device: &mut Device,
    prefix: Option<&str>,
    written: write::Written,
) -> Option<DeviceAction> {
    if let Some(delivered) = written.package {
        let outcome = delivered.then(|| device.draw_package_outcome());
        if let Some((node, _)) = device.node_mut(prefix) {
            match outcome {
                Some(outcome) => node.firmware_downloaded(outcome),
                None => node.firmware_reset(crate::model::firmware::result::INITIAL),
            }
        }
    }
    written.action
}

/// A sub-device's instances changed: its Object 25 IoT Device Objects follow.
fn refresh_gateway_entry(device: &mut Device, index: usize) {
    let Some(links) = device.sub_device(index).map(|node| node.links()) else {
        return;
    };
    let Ok(instance) = u16::try_from(index) else {
        return;
    };
    device.gateway.tree.set(
        objects::GATEWAY,
        instance,
        3,
        fleetbench_lwm2m::value::Value::CoreLink(links),
    );
}
