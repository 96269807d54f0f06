//! `stock-conservation`: per SKU, nothing is created or lost between the
//! available, reserved and sold counts, and none goes negative.

use super::{int, Findings, GroundTruth, Invariant::StockConservation};
use crate::shop::inventory;

pub(super) fn conservation(g: &GroundTruth, out: &mut Findings) {
    for (sku, initial) in g.workload.stock.iter().enumerate() {
        let sku = sku as u32;
        let a = int(&g.inventory, &inventory::available(sku));
        let r = int(&g.inventory, &inventory::reserved(sku));
        let s = int(&g.inventory, &inventory::sold(sku));
        let subject = format!("sku {sku}");
        if a + r + s != *initial {
            let d = format!("initial {initial} != available {a} + reserved {r} + sold {s}");
            out.add(StockConservation, subject.clone(), d);
        }
        if a < 0 || r < 0 || s < 0 {
            let d = format!("negative count: available {a}, reserved {r}, sold {s}");
            out.add(StockConservation, subject, d);
        }
    }
}
