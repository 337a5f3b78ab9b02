package pool

import (
	"fmt"
	"regexp"
	"strings"
)

// Image is a scale set's OS image: a compute gallery image or image version
// (ID), or a marketplace image (Publisher:Offer:SKU:Version).
type Image struct {
	ID        string
	Publisher string
	Offer     string
	SKU       string
	Version   string
}

// ParseImage reads an image as a user writes it: a resource id
// ("/subscriptions/…/galleries/g/images/ubuntu22/versions/1.2.0", or without
// the version for the newest), a marketplace URN
// ("Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"), or a
// Managed DevOps Pools well-known image ("ubuntu-24.04/latest", "windows-2022").
func ParseImage(s string) (Image, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Image{}, fmt.Errorf("empty image")
	case wellKnownRE.MatchString(s):
		return Image{ID: s}, nil
	case strings.HasPrefix(s, "/"):
		id := strings.TrimSuffix(s, "/")
		if !isImageID(id) {
			return Image{}, fmt.Errorf("image %q is not a compute gallery image or managed image resource id", s)
		}
		return Image{ID: id}, nil
	default:
		p := strings.Split(s, ":")
		if len(p) != 4 {
			return Image{}, fmt.Errorf("image %q is neither a resource id nor a marketplace URN publisher:offer:sku:version", s)
		}
		for _, f := range p {
			if f == "" {
				return Image{}, fmt.Errorf("image %q has an empty part", s)
			}
		}
		return Image{Publisher: p[0], Offer: p[1], SKU: p[2], Version: p[3]}, nil
	}
}

// wellKnownRE matches the names of Managed DevOps Pools' well-known images.
var wellKnownRE = regexp.MustCompile(`^(ubuntu|windows)-[0-9][0-9.]*(/(latest|[0-9][0-9.]*))?$`)

// WellKnown reports whether i is a Managed DevOps Pools well-known image,
// which only managed pools take.
func (i Image) WellKnown() bool { return wellKnownRE.MatchString(i.ID) }

// IsZero reports whether no image is set.
func (i Image) IsZero() bool { return i == Image{} }

// String renders i the way ParseImage reads it.
func (i Image) String() string {
	if i.ID != "" {
		return i.ID
	}
	if i.IsZero() {
		return ""
	}
	return i.Publisher + ":" + i.Offer + ":" + i.SKU + ":" + i.Version
}

// Short is a name for messages: the gallery image and version, or the URN,
// or a Managed DevOps Pools well-known image ("ubuntu-22.04/latest") as it is.
func (i Image) Short() string {
	if i.ID == "" {
		return i.String()
	}
	if !strings.HasPrefix(i.ID, "/") {
		return i.ID
	}
	p := strings.Split(i.ID, "/")
	for k := range p {
		if strings.EqualFold(p[k], "images") && k+1 < len(p) {
			return strings.Join(p[k+1:], "/")
		}
	}
	return p[len(p)-1]
}

// isImageID reports whether id names a gallery image, a gallery image version
// or a managed image:
// /subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/galleries/G/images/I[/versions/V]
// /subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/images/I
func isImageID(id string) bool {
	p := strings.Split(id, "/")
	for _, seg := range p[1:] {
		if seg == "" {
			return false
		}
	}
	is := func(i int, word string) bool { return i < len(p) && strings.EqualFold(p[i], word) }
	if !(is(1, "subscriptions") && is(3, "resourceGroups") && is(5, "providers") && is(6, "Microsoft.Compute")) {
		return false
	}
	switch {
	case is(7, "galleries") && is(9, "images"):
		return len(p) == 11 || (len(p) == 13 && is(11, "versions"))
	case is(7, "images"):
		return len(p) == 9
	}
	return false
}
