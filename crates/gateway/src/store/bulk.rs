//! Bulk command responses (`POST /devices/bulk/{command_type}`, `GET /bulk_responses/{id}`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::lock;
use crate::model::{CommandType, ObjectId, Timestamp};

/// Most bulk responses kept.
pub const MAX_BULK_RESPONSES: usize = 10_000;

/// The outcome of one bulk request.
#[derive(Debug, Clone, Serialize)]
pub struct BulkResponse {
    /// Identifier (`bulk_response_id`).
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The same id under the name EdgeIQ's bulk endpoints answer with.
    pub bulk_response_id: ObjectId,
    /// The command type.
    pub command_type: CommandType,
    /// `complete` (bulk requests are processed before the response is sent).
    pub status: &'static str,
    /// Devices asked for.
    pub total: usize,
    /// Devices a command was created for.
    pub succeeded: usize,
    /// Devices that got no command.
    pub failed: usize,
    /// Created commands: device `_id` and command `_id`.
    pub gateway_commands: Vec<BulkItem>,
    /// Devices that got no command, and why.
    pub errors: Vec<BulkError>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// One created command.
#[derive(Debug, Clone, Serialize)]
pub struct BulkItem {
    /// Device `_id`.
    pub device_id: ObjectId,
    /// Command `_id`.
    pub gateway_command_id: ObjectId,
}

/// One device that got no command.
#[derive(Debug, Clone, Serialize)]
pub struct BulkError {
    /// The device identifier as given.
    pub device_id: String,
    /// Why.
    pub message: String,
}

#[derive(Debug, Default)]
struct Responses {
    by_id: HashMap<ObjectId, Arc<BulkResponse>>,
    order: VecDeque<ObjectId>,
}

/// Bulk responses by id.
#[derive(Debug, Default)]
pub struct BulkStore {
    responses: Mutex<Responses>,
}

impl BulkStore {
    /// Stores a response.
    pub fn insert(&self, response: BulkResponse) -> Arc<BulkResponse> {
        let response = Arc::new(response);
        let mut responses = lock(&self.responses);
        while responses.order.len() >= MAX_BULK_RESPONSES {
            let Some(old) = responses.order.pop_front() else {
                break;
            };
            responses.by_id.remove(&old);
        }
        responses.order.push_back(response.id);
        responses.by_id.insert(response.id, response.clone());
        response
    }

    /// The response with `id`.
    pub fn get(&self, id: &ObjectId) -> Option<Arc<BulkResponse>> {
        lock(&self.responses).by_id.get(id).cloned()
    }
}
