package azure

import "github.com/poolbot/poolbot/pool"

// TranslateARM turns an error from an Azure Resource Manager call into a
// *pool.Error in the same words as the scale-set side's (throttling,
// outages, credentials, quota, refusals), for other ARM clients of
// poolbot's pools; what names the resource ("the Managed DevOps Pool x").
// An error that already is a *pool.Error gets op and pool filled in.
func TranslateARM(op, poolName, what string, write bool, region, sku string, err error) error {
	if err == nil {
		return nil
	}
	e := translate(target{op: op, pool: poolName, write: write, region: region, sku: sku}, err)
	if pe, ok := e.(*pool.Error); ok && what != "" && pe.Kind == pool.KindNotFound && pe.Msg == "the scale set was not found in Azure" {
		pe.Msg = what + " was not found in Azure"
	}
	return e
}
