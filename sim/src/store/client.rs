//! A client of one replicated store: it asks the control plane for the primary,
//! and follows a "not primary" answer to the new one once.

use super::server::{StoreReq, StoreRsp};
use super::{Op, OpResult, TxnError};
use crate::cluster::ReplicaSet;
use crate::rpc::Endpoint;
use std::sync::Arc;
use std::time::Duration;

/// A client of one store, with a fixed per-call timeout.
#[derive(Clone)]
pub struct StoreClient {
    ep: Arc<Endpoint>,
    set: Arc<ReplicaSet>,
    timeout: Duration,
}

impl StoreClient {
    pub fn new(ep: Arc<Endpoint>, set: Arc<ReplicaSet>, timeout: Duration) -> Self {
        StoreClient { ep, set, timeout }
    }

    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.ep
    }

    pub async fn txn(&self, ops: Vec<Op>) -> Result<Vec<OpResult>, TxnError> {
        let req = StoreReq::Txn(ops.into());
        for _ in 0..2 {
            match self.ep.call(self.set.primary(), req.clone(), self.timeout).await {
                Ok(StoreRsp::Txn(r)) => return r,
                // The primary moved since we looked: once more, at the new one.
                Ok(StoreRsp::NotPrimary) => continue,
                Ok(_) | Err(_) => return Err(TxnError::Unknown),
            }
        }
        Err(TxnError::Unknown)
    }
}
