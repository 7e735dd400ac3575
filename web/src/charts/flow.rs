//! Switching flows: who delivered a service line before (left) and after (right), with a band
//! for each flow whose width is the number of switches, labelled with the count.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Chart, colour, open, text};

/// One flow from a party to another.
#[derive(Debug, Clone)]
pub struct Link {
    pub from: String,
    pub to: String,
    pub count: usize,
}

const WIDTH: f64 = 900.0;
const NODE_W: f64 = 16.0;
const LEFT_X: f64 = 290.0;
const RIGHT_X: f64 = WIDTH - 290.0;
const GAP: f64 = 14.0;
const UNIT: f64 = 16.0;

pub fn chart(id: &str, title: &str, links: &[Link]) -> Chart {
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    let mut right: BTreeMap<&str, usize> = BTreeMap::new();
    for l in links {
        *left.entry(&l.from).or_default() += l.count;
        *right.entry(&l.to).or_default() += l.count;
    }
    let total: usize = links.iter().map(|l| l.count).sum();
    let unit = UNIT.min(360.0 / total.max(1) as f64).max(4.0);
    let place = |side: &BTreeMap<&str, usize>| {
        let mut y = 20.0;
        let mut at = BTreeMap::new();
        for (name, n) in side {
            at.insert(name.to_string(), y);
            y += *n as f64 * unit + GAP;
        }
        (at, y)
    };
    let (lpos, lh) = place(&left);
    let (rpos, rh) = place(&right);
    let height = lh.max(rh) + 20.0;
    let mut desc =
        format!("Flow diagram of {total} switches: where members moved each service line from (left) and to (right).");
    for l in links {
        let _ = write!(desc, " {} to {}: {}.", l.from, l.to, l.count);
    }
    let mut s = open(id, WIDTH, height, title, &desc);
    let mut lcursor = lpos.clone();
    let mut rcursor = rpos.clone();
    // Bands leave each party in the order their destinations are stacked, so they cross little.
    let mut links: Vec<&Link> = links.iter().collect();
    links.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    let palette = [colour::BLUE, colour::AQUA, colour::PURPLE, colour::ORANGE, colour::GREEN, colour::DARK_BLUE];
    let mut marks = 0;
    for (i, l) in links.iter().enumerate() {
        let h = l.count as f64 * unit;
        let y0 = lcursor.get(&l.from).copied().unwrap_or(0.0) + h / 2.0;
        let y1 = rcursor.get(&l.to).copied().unwrap_or(0.0) + h / 2.0;
        if let Some(v) = lcursor.get_mut(&l.from) {
            *v += h;
        }
        if let Some(v) = rcursor.get_mut(&l.to) {
            *v += h;
        }
        let (x0, x1) = (LEFT_X + NODE_W, RIGHT_X);
        let mid = (x0 + x1) / 2.0;
        marks += 1;
        let _ = write!(
            s,
            r#"<g data-mark="flow"><title>{} to {}: {} switches</title><path d="M{x0:.1} {y0:.1} C{mid:.1} {y0:.1} {mid:.1} {y1:.1} {x1:.1} {y1:.1}" fill="none" stroke="{}" stroke-opacity="0.55" stroke-width="{:.1}"/>{}</g>"#,
            crate::html::esc(&l.from),
            crate::html::esc(&l.to),
            l.count,
            palette[i % palette.len()],
            h.max(2.0),
            text(mid, (y0 + y1) / 2.0 + 4.0, "middle", "csx-chart__small", &l.count.to_string())
        );
    }
    for (side, pos, x, anchor, dx) in
        [(&left, &lpos, LEFT_X, "end", -8.0), (&right, &rpos, RIGHT_X, "start", NODE_W + 8.0)]
    {
        for (name, n) in side.iter() {
            let y = pos[*name];
            let h = *n as f64 * unit;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{h:.1}" fill="{}"/>"#,
                colour::DARK_BLUE
            );
            s.push_str(&text(
                x + dx,
                y + h / 2.0 + 5.0,
                anchor,
                "csx-chart__label",
                &format!("{} ({n})", super::clip(name, 34)),
            ));
        }
    }
    s.push_str("</svg>");
    Chart { svg: s, marks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_band_per_flow() {
        let links = vec![
            Link { from: "NEL CSU".into(), to: "in house".into(), count: 2 },
            Link { from: "NEL CSU".into(), to: "Arden & GEM CSU".into(), count: 1 },
        ];
        let c = chart("f", "CHC", &links);
        assert_eq!(c.marks, 2);
        assert!(c.svg.contains("NEL CSU (3)") && c.svg.contains("in house (2)"));
    }
}
