//! Execute (`POST /O/I/R`): Reboot, Registration Update Trigger, firmware Update and Cancel,
//! Reset Min/Max of IPSO sensors, and the agent's commands (answered, no effect).

use coap_lite::ResponseType;
use fleetbench_lwm2m::path::Lwm2mPath;
use tokio::time::Instant;

use super::handle::Failure;
use super::{DeviceAction, Reply, message};
use crate::model::firmware::{FirmwareState, result};
use crate::model::{Node, objects};

pub(super) fn execute(
    node: &mut Node,
    sub_device: Option<usize>,
    now: Instant,
    path: &Lwm2mPath,
    instance: u16,
    resource: u16,
) -> Result<Reply, Failure> {
    let res = node
        .tree
        .resource(path.object, instance, resource)
        .ok_or(ResponseType::NotFound)?;
    if !res.operations.executable() {
        return Err(ResponseType::MethodNotAllowed);
    }
    let action = match (path.object, resource) {
        (objects::DEVICE, objects::DEVICE_REBOOT) => Some(match sub_device {
            None => DeviceAction::Reboot,
            Some(index) => DeviceAction::SubDeviceReboot(index),
        }),
        (objects::SERVER, objects::SERVER_UPDATE_TRIGGER) => Some(DeviceAction::RegistrationUpdate),
        (objects::FIRMWARE, objects::FIRMWARE_UPDATE) => {
            if !node.start_firmware_update() {
                return Err(ResponseType::MethodNotAllowed);
            }
            Some(DeviceAction::FirmwareUpdate { sub_device })
        }
        (objects::FIRMWARE, objects::FIRMWARE_CANCEL) => match node.firmware_state() {
            FirmwareState::Updating => return Err(ResponseType::MethodNotAllowed),
            FirmwareState::Idle => None,
            FirmwareState::Downloading | FirmwareState::Downloaded => {
                node.firmware_reset(result::CANCELLED);
                Some(DeviceAction::CancelDownload { sub_device })
            }
        },
        (objects::TEMPERATURE | objects::HUMIDITY, objects::SENSOR_RESET_EXTREMES) => {
            node.reset_extremes(now, path.object, instance);
            None
        }
        _ => None,
    };
    Ok(Reply {
        response: message::empty(ResponseType::Changed),
        action,
    })
}
