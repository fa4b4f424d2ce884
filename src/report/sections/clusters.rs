//! The clusters section (`cluster/clusters.json`): per clustered group, its source and topics (the
//! source -> topic tree with `within`), each topic's size, top terms and the document nearest its
//! centroid, the silhouette of each `k` tried, the sample on its first two principal components coloured
//! by topic, and the domains kept as they are. `None` when the
//! cluster stage has not run.

use std::path::Path;

use anyhow::Result;

use super::inputs::read_json;
use crate::data::cluster::ClustersFile;
use crate::report::charts::{bars, cluster_map};
use crate::report::html::{charts, escape, pct, section, table};

pub fn clusters(work: &Path) -> Result<Option<String>> {
    let Some(file) = read_json::<ClustersFile>(&work.join("cluster/clusters.json"))? else {
        return Ok(None);
    };
    let mut body = String::new();
    for group in &file.groups {
        let documents: u64 = group.clusters.iter().map(|c| c.documents).sum();
        let title = match &group.source {
            Some(source) => format!("{source} -> {} topics", group.clusters.len()),
            None => format!("the corpus -> {} topics", group.clusters.len()),
        };
        let scores: Vec<String> = group.silhouette.iter().map(|s| s.to_string()).collect();
        body.push_str(&format!(
            "<h3>{}</h3><p class=\"note\">{} documents; k-means fitted on {} sampled documents; silhouette on \
             {} of them ({}): {}</p>",
            escape(&title),
            documents,
            group.sample_documents,
            group.silhouette.first().map_or(0, |s| s.documents),
            "cosine geometry, -1 to 1, higher is better separated",
            escape(&scores.join(", "))
        ));
        let labels: Vec<String> = group.clusters.iter().map(|c| c.name.clone()).collect();
        let rows: Vec<Vec<String>> = group
            .clusters
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    c.documents.to_string(),
                    format!("{:.2}", c.bytes as f64 / 1e6),
                    pct(c.documents as f64 / documents.max(1) as f64),
                    c.top_terms.join(" "),
                    c.nearest.first().cloned().unwrap_or_default(),
                ]
            })
            .collect();
        body.push_str(&table(
            &[
                "domain",
                "docs",
                "MB",
                "share",
                "top terms",
                "nearest its centroid",
            ],
            &rows,
        ));
        let shares = group
            .clusters
            .iter()
            .map(|c| c.documents as f64 / documents.max(1) as f64)
            .collect();
        let mut pictures = Vec::new();
        if !group.map.is_empty() {
            let points: Vec<(f64, f64, usize)> = group
                .map
                .iter()
                .map(|p| (p.x as f64, p.y as f64, p.cluster as usize))
                .collect();
            pictures.push(cluster_map(
                &format!("{} sampled documents, coloured by topic", points.len()),
                &points,
                &labels,
            )?);
        }
        body.push_str(&charts(&pictures));
        body.push_str(&charts(&[bars(
            &format!(
                "Topics of {}",
                group.source.as_deref().unwrap_or("the corpus")
            ),
            &labels,
            &[("documents", shares)],
            "share of documents",
        )?]));
    }
    if !file.kept.is_empty() {
        let rows: Vec<Vec<String>> = file
            .kept
            .iter()
            .map(|k| {
                vec![
                    k.domain.clone(),
                    k.documents.to_string(),
                    format!("{:.2}", k.bytes as f64 / 1e6),
                ]
            })
            .collect();
        body.push_str("<h3>Kept as they are</h3>");
        body.push_str(&table(&["domain", "docs", "MB"], &rows));
    }
    let topics: usize = file.groups.iter().map(|g| g.clusters.len()).sum();
    Ok(Some(section(
        "clusters",
        "Topic domains",
        &format!(
            "{topics} topic domains from k-means on {} ({} dimensions; centroids {})",
            match &file.features {
                crate::data::cluster::Features::Tfidf => "hashed TF-IDF".to_string(),
                crate::data::cluster::Features::Column(name) =>
                    format!("the embeddings in `{name}`"),
            },
            file.dims,
            file.centroids_from
        ),
        &body,
    )))
}
