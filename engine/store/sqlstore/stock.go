package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// lockRewards creates the stock rows of the batch's rewards and locks them,
// in id order, after the members (see lockCampaigns). A row it created
// that no redemption of the batch took from is removed before the commit:
// a refused redemption (an unknown member, too few points) leaves nothing
// behind, so a store that only refused requests is still empty, as an
// import requires.
func (t *txn) lockRewards(ctx context.Context, batch []*job) error {
	var ids []string
	for _, j := range batch {
		ids = append(ids, j.rewards...)
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var created []string
	for _, id := range ids {
		res, err := t.rawExec(ctx, t.d.rebind(`INSERT INTO reward_stock (reward_id, redeemed) VALUES (?, 0) ON CONFLICT DO NOTHING`), id)
		if err != nil {
			return fmt.Errorf("create stock of reward %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("create stock of reward %s: %w", id, err)
		} else if n > 0 {
			created = append(created, id)
		}
	}
	if len(created) > 0 {
		t.after("reward-stock", func(ctx context.Context, t *txn) error {
			return t.dropUnusedStock(ctx, created)
		})
	}
	if t.stock == nil {
		t.stock = make(map[string]int64, len(ids))
	}
	err := t.listQuery(ctx, `SELECT reward_id, redeemed FROM reward_stock WHERE reward_id IN (%s) ORDER BY reward_id`+t.d.ForUpdate,
		[][]string{ids}, func(rows *sql.Rows) error {
			var id string
			var redeemed int64
			if err := rows.Scan(&id, &redeemed); err != nil {
				return err
			}
			t.stock[id] = redeemed
			return nil
		})
	if err != nil {
		return fmt.Errorf("lock reward stock: %w", err)
	}
	return nil
}

// dropUnusedStock removes the stock rows of ids that count no redemption.
func (t *txn) dropUnusedStock(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := t.rawExec(ctx, t.d.rebind(`DELETE FROM reward_stock WHERE reward_id = ? AND redeemed = 0`), id); err != nil {
			return fmt.Errorf("remove the unused stock of reward %s: %w", id, err)
		}
	}
	return nil
}

// takeStock counts one more redemption of the reward when rules.CheckStock
// allows it. The count was read under the stock row's lock (lockRewards)
// and is kept current by the batch, so two redemptions can never both take
// the last one.
func (t *txn) takeStock(ctx context.Context, r *config.Reward) error {
	redeemed, locked := t.stock[r.ID]
	if !locked {
		return fmt.Errorf("take stock of reward %s: its stock row is not locked by the batch", r.ID)
	}
	if err := rules.CheckStock(r, redeemed); err != nil {
		return err
	}
	return t.moveStock(ctx, r.ID, 1)
}

// moveStock adds n to the reward's count of active redemptions.
func (t *txn) moveStock(ctx context.Context, rewardID string, n int64) error {
	res, err := t.exec(ctx, `UPDATE reward_stock SET redeemed = redeemed + ? WHERE reward_id = ?`, n, rewardID)
	if err != nil {
		return fmt.Errorf("count redemptions of reward %s: %w", rewardID, err)
	}
	if changed, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("count redemptions of reward %s: %w", rewardID, err)
	} else if changed != 1 {
		return fmt.Errorf("count redemptions of reward %s: no stock row: ledger inconsistent", rewardID)
	}
	if redeemed, ok := t.stock[rewardID]; ok {
		t.stock[rewardID] = redeemed + n
	}
	return nil
}
