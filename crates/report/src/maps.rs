//! The predicted maps a group shows (docs/report.md §10.6): for one seed, each method's
//! predicted class maps of a few test tiles under each setting, beside the tiles' labels.
//! The pixels stay out of `report.json`; they are drawn as images.

use lssg_scenario::robustness::TileMaps;

use crate::aggregate::{PRETRAINED, ordered_methods};
use crate::record::CellRecord;

/// The maps of one seed, methods in table order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapPanel {
    /// The seed whose cells are shown.
    pub seed: u64,
    /// The class names (the legend).
    pub class_names: Vec<String>,
    /// Per method, its cell's maps (the strategies first, the pretrained network last).
    pub methods: Vec<(String, TileMaps)>,
}

/// The panel of a group: the lowest seed with maps from the most methods; `None` when no
/// cell recorded maps.
pub(crate) fn map_panel(cells: &[&CellRecord], notes: &mut Vec<String>) -> Option<MapPanel> {
    let with_maps: Vec<&CellRecord> =
        cells.iter().copied().filter(|c| c.maps.as_ref().is_some_and(|m| !m.tiles.is_empty())).collect();
    let mut seeds: Vec<u64> = with_maps.iter().map(|c| c.key.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let count = |s: u64| with_maps.iter().filter(|c| c.key.seed == s).count();
    // max_by_key keeps the last maximum; reversing keeps the lowest seed among equals
    let seed = seeds.iter().rev().copied().max_by_key(|s| count(*s))?;
    let chosen: Vec<&CellRecord> = with_maps.iter().copied().filter(|c| c.key.seed == seed).collect();
    let names: Vec<String> = chosen.iter().map(|c| c.key.method.clone()).collect();
    let mut order = ordered_methods(names.iter());
    // the pretrained network is the reference the strategies start from: last row
    if let Some(i) = order.iter().position(|m| m == PRETRAINED) {
        let m = order.remove(i);
        order.push(m);
    }
    let methods: Vec<(String, TileMaps)> = order
        .into_iter()
        .filter_map(|m| {
            let cell = chosen.iter().find(|c| c.key.method == m)?;
            Some((m, cell.maps.clone()?))
        })
        .collect();
    let mut missing = ordered_methods(cells.iter().filter(|c| !names.contains(&c.key.method)).map(|c| &c.key.method));
    missing.dedup();
    if !missing.is_empty() {
        notes.push(format!("predicted maps: seed {seed} has none of {}", missing.join(", ")));
    }
    let class_names = chosen.first().map(|c| c.class_names.clone()).unwrap_or_default();
    Some(MapPanel { seed, class_names, methods })
}
