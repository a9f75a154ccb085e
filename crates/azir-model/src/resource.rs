//! Network configuration as ARM describes it: one [`Resource`] per resource (NSG, VNet, subnet,
//! NIC, route table, VM, …) read from ARM REST, `az` CLI or Resource Graph output.
//!
//! The JSON is normalized to the ARM shape (resource fields at the top, everything else under
//! `properties`, child resources likewise), so readers never care which tool produced it.

use crate::event::Provenance;
use serde::{Deserialize, Serialize};

/// One ARM resource as found in the evidence. Stored in the `resources` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// `TimeGenerated`: the instant the configuration is known to describe, microseconds UTC.
    /// `None` when the record carries no time (ARM GET output): the store then writes the ingest
    /// time and `time_source` says so.
    pub time: Option<i64>,
    /// `ResourceId`: the resource id as written.
    pub id: String,
    /// `resource_id_lower`: the id lower-cased, for case-insensitive joins.
    pub id_lower: String,
    /// `ResourceType`: the ARM type in its canonical spelling (`Microsoft.Network/networkSecurityGroups`).
    pub kind: String,
    /// `ResourceName`: the resource's name.
    pub name: String,
    /// `SubscriptionId`: lower-cased, from the id (or the record's `subscriptionId`).
    pub subscription: Option<String>,
    /// `ResourceGroup`: as written in the id (or the record's `resourceGroup`).
    pub resource_group: Option<String>,
    /// `Location`: the Azure region.
    pub location: Option<String>,
    /// `source_format`: `rest` (ARM), `cli` (`az`, properties flattened) or `resourcegraph`.
    pub source_format: String,
    /// `json`: the resource normalized to the ARM shape (`properties` nested).
    pub json: String,
    /// `raw`: the record as written.
    pub raw: String,
    /// Where it came from.
    pub provenance: Provenance,
}
