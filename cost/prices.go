// Package cost estimates and reports what agent pools cost: hourly prices
// from the Azure Retail Prices API (or the config), instance-hours accrued
// from what the watcher sees, actual costs from Azure Cost Management, the
// budget and idle-waste conditions, and the daily digest.
package cost

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/poolbot/poolbot/clock"
	"github.com/poolbot/poolbot/pool"
)

// DefaultRetailPricesURL is Azure's public price list; it needs no authentication.
const DefaultRetailPricesURL = "https://prices.azure.com/api/retail/prices"

// priceTTL is how long a looked-up price is kept: retail prices change monthly at most.
const priceTTL = 24 * time.Hour

// maxPages bounds the NextPageLink chain of one lookup, so a misbehaving
// endpoint cannot keep us paging forever.
const maxPages = 20

// Prices gives the hourly price of a VM size in a region, from the config
// when it names the SKU, else from the Retail Prices API, cached.
type Prices struct {
	url       string
	client    *http.Client
	overrides map[string]float64
	currency  string
	clock     clock.Clock

	mu    sync.Mutex
	cache map[priceKey]priceEntry
}

type priceKey struct {
	region, sku string
	os          pool.OS
}

type priceEntry struct {
	price    float64
	currency string
	at       time.Time
	err      error
}

// NewPrices returns a price source. url defaults to DefaultRetailPricesURL,
// client to http.DefaultClient; overrides (by SKU, case-insensitive) are in
// currency, which is also asked of the API when it is not USD.
func NewPrices(url string, client *http.Client, overrides map[string]float64, currency string, c clock.Clock) *Prices {
	if url == "" {
		url = DefaultRetailPricesURL
	}
	if client == nil {
		client = http.DefaultClient
	}
	if currency == "" {
		currency = "USD"
	}
	if c == nil {
		c = clock.Real{}
	}
	ov := make(map[string]float64, len(overrides))
	for k, v := range overrides {
		ov[strings.ToLower(k)] = v
	}
	return &Prices{url: url, client: client, overrides: ov, currency: currency, clock: c, cache: map[priceKey]priceEntry{}}
}

// Hourly returns the pay-as-you-go price of one instance-hour of sku in
// region for os.
func (p *Prices) Hourly(ctx context.Context, region, sku string, os pool.OS) (float64, string, error) {
	if v, ok := p.overrides[strings.ToLower(sku)]; ok {
		return v, p.currency, nil
	}
	if region == "" || sku == "" {
		return 0, "", fmt.Errorf("price: no region or SKU known")
	}
	k := priceKey{strings.ToLower(region), sku, os}
	now := p.clock.Now()
	p.mu.Lock()
	e, ok := p.cache[k]
	p.mu.Unlock()
	// A failed lookup is retried after a few minutes, not on every cycle.
	if ok && (e.err == nil && now.Sub(e.at) < priceTTL || e.err != nil && now.Sub(e.at) < 5*time.Minute) {
		return e.price, e.currency, e.err
	}
	price, cur, err := p.fetch(ctx, k)
	p.mu.Lock()
	p.cache[k] = priceEntry{price: price, currency: cur, at: now, err: err}
	p.mu.Unlock()
	return price, cur, err
}

// retailItem is one price of the Retail Prices API.
type retailItem struct {
	CurrencyCode  string  `json:"currencyCode"`
	RetailPrice   float64 `json:"retailPrice"`
	UnitPrice     float64 `json:"unitPrice"`
	ArmRegionName string  `json:"armRegionName"`
	ArmSkuName    string  `json:"armSkuName"`
	ProductName   string  `json:"productName"`
	SkuName       string  `json:"skuName"`
	MeterName     string  `json:"meterName"`
	Type          string  `json:"type"`
	UnitOfMeasure string  `json:"unitOfMeasure"`
}

type retailPage struct {
	Items        []retailItem `json:"Items"`
	NextPageLink string       `json:"NextPageLink"`
}

func (p *Prices) fetch(ctx context.Context, k priceKey) (float64, string, error) {
	q := url.Values{}
	q.Set("$filter", fmt.Sprintf("serviceName eq 'Virtual Machines' and armRegionName eq '%s' and armSkuName eq '%s'", k.region, k.sku))
	if p.currency != "USD" {
		q.Set("currencyCode", p.currency)
	}
	next := p.url + "?" + q.Encode()
	var items []retailItem
	for page := 0; next != "" && page < maxPages; page++ {
		pg, err := p.page(ctx, next)
		if err != nil {
			return 0, "", fmt.Errorf("price of %s in %s: %w", k.sku, k.region, err)
		}
		items = append(items, pg.Items...)
		next = pg.NextPageLink
	}
	it, ok := pick(items, k.sku, k.os)
	if !ok {
		return 0, "", fmt.Errorf("price of %s in %s: no pay-as-you-go %s price listed", k.sku, k.region, osName(k.os))
	}
	price := it.RetailPrice
	if price == 0 {
		price = it.UnitPrice
	}
	return price, it.CurrencyCode, nil
}

func (p *Prices) page(ctx context.Context, u string) (retailPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return retailPage{}, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return retailPage{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return retailPage{}, fmt.Errorf("retail prices API answered %s", resp.Status)
	}
	return parsePage(io.LimitReader(resp.Body, 16<<20))
}

func parsePage(r io.Reader) (retailPage, error) {
	var pg retailPage
	if err := json.NewDecoder(r).Decode(&pg); err != nil {
		return retailPage{}, fmt.Errorf("decode retail prices: %w", err)
	}
	return pg, nil
}

// pick chooses the pay-as-you-go hourly price for os among the items the
// API lists for a SKU: Windows items name Windows in productName; spot and
// low-priority meters are separate items and never the price of a pool.
func pick(items []retailItem, sku string, os pool.OS) (retailItem, bool) {
	for _, it := range items {
		if !strings.EqualFold(it.Type, "Consumption") {
			continue
		}
		if sku != "" && it.ArmSkuName != "" && !strings.EqualFold(it.ArmSkuName, sku) {
			continue
		}
		name := strings.ToLower(it.SkuName + " " + it.MeterName + " " + it.ProductName)
		if strings.Contains(name, "spot") || strings.Contains(name, "low priority") {
			continue
		}
		if strings.Contains(strings.ToLower(it.ProductName), "windows") != (os == pool.Windows) {
			continue
		}
		if it.UnitOfMeasure != "" && !strings.HasPrefix(it.UnitOfMeasure, "1 Hour") {
			continue
		}
		if it.RetailPrice < 0 || it.UnitPrice < 0 {
			continue
		}
		return it, true
	}
	return retailItem{}, false
}

func osName(os pool.OS) string {
	if os == pool.Windows {
		return "Windows"
	}
	return "Linux"
}
