/* Opening the metadata view fed by the controller quorum (KIP-500, KIP-631):
 * the implementation of metadata_view.h (a single node is a one-voter
 * quorum).
 *
 * Reads come from the broker's replayed copy of the controller's metadata
 * image (broker/metadata/broker_session): unfenced brokers with their advertised
 * endpoints and racks, topics with ids, configs and partitions (replicas,
 * ISR, leader, leader epoch), the cluster id. The owner calls
 * metadata_quorum_refresh after each image change; the view updates what the
 * source's changes name (or compares the whole image when it was replaced,
 * or when the source keeps no changes) and fires the metadata_listener
 * callbacks for exactly what changed (created, deleted, partitions added,
 * one partition changed, config changed).
 *
 * Admin mutations (metadata_view_submit_*) are forwarded to the active
 * controller through `client`, and answered once this view shows the change
 * (bounded by the request timeout). Every broker forwards admin requests
 * (KIP-590), so Metadata's controller_id names a live broker: this one once
 * it is unfenced, else the lowest unfenced one.
 *
 * Loop thread only. */
#ifndef SLUICE_BROKER_METADATA_METADATA_QUORUM_H
#define SLUICE_BROKER_METADATA_METADATA_QUORUM_H

#include <uv.h>

#include "broker/metadata/metadata_view.h"
#include "metadata/controller_client.h"
#include "metadata/image.h"
#include "metadata/image_changes.h"

struct metadata_quorum_source {
    void *data;
    /* The current image (borrowed until the next loop iteration); NULL
     * before the first metadata fetch. */
    const MetadataImage *(*image)(void *data);
    /* Where admin requests go (borrowed; must outlive the view's pending
     * requests, whose callbacks it fires). NULL: admin requests fail. */
    struct controller_client *client;
    /* What changed in the image since the view last applied it (borrowed;
     * the view clears it once applied, or notes everything when it could
     * not apply it). NULL function: every refresh compares the whole image,
     * at a cost that grows with the cluster. */
    struct image_changes *(*changes)(void *data);
    /* The image's topic with id `id`, found without walking every topic
     * (fsm_find_topic_id), or NULL. NULL function: the view walks the image. */
    const TopicState *(*find_topic_id)(void *data, ProtobufCBinaryData id);
};

/* Open the view for broker `cfg->node_id`; `cfg` and `src` are borrowed for
 * the view's lifetime (src is copied). Builds the view from the current
 * image if there is one (no callbacks fire for it). Returns 0 or -ENOMEM
 * with `err`. metadata_view_close releases it; its timer finishes closing
 * when the loop runs again. */
int metadata_quorum_open(struct metadata_view **out, uv_loop_t *loop,
                         const struct sluice_config *cfg, const struct metadata_quorum_source *src,
                         char *err, size_t errlen);

/* The source's image changed: bring the view up to date, fire the
 * listener's callbacks, and answer admin requests now visible. */
void metadata_quorum_refresh(struct metadata_view *v);

#endif
