//! Shapes shared by every resource: the list page, the error body, and
//! OpenAPI schemas for `control`'s enumerations.
//!
//! `control` has no OpenAPI dependency, so its enums get their schemas
//! here: a string with the enum's values, taken from the enum's own `ALL`
//! list, so a value added there appears in the document without an edit
//! here.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};

/// One page of a list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PageBody<T: ToSchema> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> PageBody<T> {
    pub(crate) fn from_page<U>(page: control::Page<U>, f: impl FnMut(U) -> T) -> Self {
        PageBody {
            data: page.items.into_iter().map(f).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

/// Every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable, machine-readable: `not_found`, `invalid_field`,
    /// `unauthenticated`, `csrf_token_missing`, `already_taken`, ...
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// The offending input field, on 422 validation errors.
    #[schema(nullable = false)]
    pub field: Option<String>,
}

fn string_enum(values: impl IntoIterator<Item = &'static str>, nullable: bool) -> RefOr<Schema> {
    let mut values: Vec<serde_json::Value> = values.into_iter().map(Into::into).collect();
    let schema_type = if nullable {
        values.push(serde_json::Value::Null);
        utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null])
    } else {
        utoipa::openapi::schema::SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .enum_values(Some(values))
        .build()
        .into()
}

/// `fn NAME() -> RefOr<Schema>` (and `NAME_nullable`) for a `control` enum.
macro_rules! enum_schema {
    ($($name:ident, $nullable:ident: $ty:ty;)+) => {
        $(
            pub(crate) fn $name() -> RefOr<Schema> {
                string_enum(<$ty>::ALL.iter().map(|v| v.as_str()), false)
            }
            #[allow(dead_code)]
            pub(crate) fn $nullable() -> RefOr<Schema> {
                string_enum(<$ty>::ALL.iter().map(|v| v.as_str()), true)
            }
        )+
    };
}

enum_schema! {
    role, role_nullable: control::Role;
    latency_mode, latency_mode_nullable: control::LatencyMode;
    segment_format, segment_format_nullable: control::SegmentFormat;
    visibility, visibility_nullable: control::Visibility;
    playback_policy, playback_policy_nullable: control::PlaybackPolicy;
    channel_status, channel_status_nullable: control::ChannelStatus;
    live_stream_status, live_stream_status_nullable: control::LiveStreamStatus;
    vod_status, vod_status_nullable: control::VodStatus;
    clip_status, clip_status_nullable: control::ClipStatus;
    clip_export_status, clip_export_status_nullable: control::ClipExportStatus;
    signing_algorithm, signing_algorithm_nullable: control::SigningAlgorithm;
    playback_audience, playback_audience_nullable: control::PlaybackAudience;
    webhook_event_type, webhook_event_type_nullable: control::WebhookEventType;
    webhook_delivery_status, webhook_delivery_status_nullable: control::WebhookDeliveryStatus;
    webhook_format, webhook_format_nullable: control::WebhookFormat;
}

/// An array of webhook event types.
pub(crate) fn webhook_event_types() -> RefOr<Schema> {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(webhook_event_type())
        .build()
        .into()
}

/// The same, optional in a PATCH (`null` or absent: unchanged).
pub(crate) fn webhook_event_types_nullable() -> RefOr<Schema> {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(webhook_event_type())
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Array,
            Type::Null,
        ]))
        .build()
        .into()
}
